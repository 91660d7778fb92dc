// The real OTLP/HTTP exporter to a loopback receiver: the decoded payload
// carries procmeter's metrics, the resource and the right values.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';

import { registerProcessMetrics } from 'procmeter';
import { openFileLimits, procStartTimeSeconds } from '../helpers/ground-truth.mjs';
import { startOtlpReceiver, otlpMetrics } from '../helpers/otlp-receiver.mjs';

test('OTLP/HTTP export of the prometheus-named catalog, decoded', async () => {
  const receiver = await startOtlpReceiver();
  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url: `${receiver.base}/v1/metrics` }),
    exportIntervalMillis: 60_000,
  });
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'otlp-test' }), readers: [reader] });
  const handle = registerProcessMetrics({ meterProvider: provider });
  try {
    Array.from({ length: 200_000 }, (_, i) => ({ i })); // some GC
    await new Promise((resolve) => setTimeout(resolve, 50));
    await reader.forceFlush();
    // The GC pauses an export's collection counts go into the next export.
    await new Promise((resolve) => setImmediate(resolve));
    const cpuSeconds = () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    };
    const cpuBefore = cpuSeconds();
    await reader.forceFlush();
    const cpuAfter = cpuSeconds();
    await receiver.waitFor((requests) => requests.length > 1);
    const exported = otlpMetrics(receiver.requests);
    // Later exports come later in the list: the map keeps the last.
    const metrics = new Map(exported.map((m) => [m.name, m]));
    for (const metric of exported) {
      for (const point of metric.data.dataPoints) {
        if (point.startTimeUnixNano === undefined) continue; // gauges have none
        assert.ok(BigInt(point.startTimeUnixNano) <= BigInt(point.timeUnixNano), `${metric.name}: a point starts after it ends: ${JSON.stringify(point)}`);
      }
    }
    assert.equal(receiver.requests[0].contentType, 'application/json');
    assert.ok(metrics.size >= 35, `${metrics.size} metrics`);
    const only = (name) => metrics.get(name).data.dataPoints[0];

    const maxFds = metrics.get('process_max_fds');
    assert.equal(maxFds.kind, 'gauge');
    assert.equal(maxFds.resource['service.name'], 'otlp-test');
    assert.equal(maxFds.scope, 'procmeter');
    assert.equal(only('process_max_fds').asInt, openFileLimits().soft, 'whole numbers travel as asInt');
    // 10 ms ticks and the uptime's 10 ms, either way, and a preemption
    // between the reads (as in the snapshot tests).
    const startTime = only('process_start_time_seconds').asDouble;
    assert.ok(Math.abs(startTime - procStartTimeSeconds()) < 0.1, `${startTime} vs /proc ${procStartTimeSeconds()}`);

    const cpu = metrics.get('process_cpu_seconds');
    assert.equal(cpu.kind, 'sum');
    assert.equal(cpu.data.isMonotonic, true);
    assert.equal(cpu.data.aggregationTemporality, 2, 'cumulative');
    // The last export's reading, taken during the last flush (getrusage, as
    // process.cpuUsage(), to the microsecond).
    const exportedCpu = only('process_cpu_seconds').asDouble;
    assert.ok(exportedCpu >= cpuBefore - 1e-6 && exportedCpu <= cpuAfter + 1e-6, `${exportedCpu} s exported, process.cpuUsage() ${cpuBefore} -> ${cpuAfter} s`);

    const gc = metrics.get('nodejs_gc_duration_seconds');
    assert.equal(gc.kind, 'histogram');
    assert.deepEqual(gc.data.dataPoints[0].explicitBounds, [0.001, 0.01, 0.1, 1, 2, 5]);
    const kinds = gc.data.dataPoints.map((p) => p.attributes.find((a) => a.key === 'kind').value.stringValue);
    assert.ok(kinds.includes('minor'));
  } finally {
    handle.shutdown();
    await provider.shutdown();
    await receiver.close();
  }
});
