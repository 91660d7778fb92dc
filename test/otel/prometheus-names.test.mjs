// prometheus naming, end to end: the real @opentelemetry/exporter-prometheus
// output against what prom-client 15 itself produces in the same process, and
// the Collector's OTLP-to-Prometheus translation (implemented below from its
// published rules) giving the same names.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import promClient from 'prom-client';

import { registerProcessMetrics } from 'procmeter';
import { makeProcessBusy } from '../helpers/busy-process.mjs';
import { kindOf, manualProvider } from '../helpers/otel.mjs';
import { busyLoop } from '../helpers/assertions.mjs';

/** Metric families of a text exposition: name -> { type, labels:Set, samples }. */
export function parseExposition(text) {
  const families = new Map();
  const family = (name) => {
    if (!families.has(name)) families.set(name, { type: undefined, labels: new Set(), samples: 0 });
    return families.get(name);
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      family(type[1]).type = type[2];
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    if (!sample) continue;
    // Histogram samples belong to their family.
    let name = sample[1];
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (name.endsWith(suffix) && families.get(name.slice(0, -suffix.length))?.type === 'histogram') name = name.slice(0, -suffix.length);
    }
    const entry = family(name);
    entry.samples += 1;
    for (const [, label] of (sample[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) {
      if (label !== 'le' && !label.startsWith('otel_scope_')) entry.labels.add(label);
    }
  }
  return families;
}

/**
 * The OTLP-to-Prometheus name translation of the Collector and Prometheus'
 * OTLP receiver (otlptranslator, UnderscoreEscapingWithSuffixes), from its
 * published description: tokens of [a-zA-Z0-9:]; the unit as a word unless
 * already a token; for monotonic counters 'total' moved to the end; for
 * gauges with unit 1, 'ratio'.
 */
export function otlpToPrometheusName(name, unit, kind) {
  const UNIT_WORDS = { s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds', By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', '%': 'percent', min: 'minutes', h: 'hours', d: 'days' };
  let tokens = name.split(/[^a-zA-Z0-9:]+/).filter(Boolean);
  const unitWords = [];
  const cleanUnit = unit.replace(/\{[^}]*\}/g, '').trim();
  if (cleanUnit && cleanUnit !== '1') {
    const [main, per] = cleanUnit.split('/');
    if (main) unitWords.push(UNIT_WORDS[main] ?? main);
    if (per) unitWords.push('per', UNIT_WORDS[per] ?? per);
  }
  for (const word of unitWords) if (!tokens.includes(word)) tokens.push(word);
  if (kind === 'counter') {
    tokens = tokens.filter((t) => t !== 'total');
    tokens.push('total');
  }
  if (kind === 'gauge' && unit === '1' && !tokens.includes('ratio')) tokens.push('ratio');
  return tokens.join('_');
}

test('the translation helper follows its published examples', () => {
  assert.equal(otlpToPrometheusName('process.cpu.time', 's', 'counter'), 'process_cpu_time_seconds_total');
  assert.equal(otlpToPrometheusName('process_cpu_seconds', 's', 'counter'), 'process_cpu_seconds_total');
  assert.equal(otlpToPrometheusName('process_open_fds', '{file_descriptor}', 'gauge'), 'process_open_fds');
  assert.equal(otlpToPrometheusName('http.server.duration', 'ms', 'histogram'), 'http_server_duration_milliseconds');
  assert.equal(otlpToPrometheusName('system.cpu.utilization', '1', 'gauge'), 'system_cpu_utilization_ratio');
  assert.equal(otlpToPrometheusName('requests_total', '{request}', 'counter'), 'requests_total');
});

// Something of everything, so every family has samples on both sides.
const undoBusy = await makeProcessBusy();
after(undoBusy);

async function promClientFamilies() {
  const registry = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: registry });
  return registry;
}

async function exporterText(exporter) {
  const endpoint = createServer((request, response) => exporter.getMetricsRequestHandler(request, response)).listen(0, '127.0.0.1');
  await once(endpoint, 'listening');
  try {
    return await (await fetch(`http://127.0.0.1:${endpoint.address().port}/metrics`)).text();
  } finally {
    endpoint.close();
  }
}

async function settle() {
  for (let i = 0; i < 5; i++) {
    Array.from({ length: 50_000 }, (_, j) => ({ j }));
    busyLoop(5);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const stddev of [false, true]) {
  test(`exporter-prometheus output has prom-client's names, types and labels (eventLoopDelayStddev: ${stddev})`, async () => {
    const registry = await promClientFamilies();
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    const handle = registerProcessMetrics({ meterProvider: provider, eventLoopDelayStddev: stddev });
    await settle();
    const theirs = parseExposition(await registry.metrics());
    // The GC pauses a scrape counts show in the histogram from the next one on.
    await exporterText(exporter);
    const ours = parseExposition(await exporterText(exporter));
    handle.shutdown();
    await provider.shutdown();

    const missing = [];
    for (const [name, family] of theirs) {
      if (family.samples === 0) continue; // nothing for Prometheus to scrape on either side
      const mine = ours.get(name);
      if (!mine || mine.samples === 0) {
        missing.push(name);
        continue;
      }
      assert.equal(mine.type, family.type, `${name}: TYPE ${mine.type}, prom-client ${family.type}`);
      assert.deepEqual([...mine.labels].sort(), [...family.labels].sort(), `${name} labels`);
    }
    // Left out by default because computing it costs ~0.5 ms per collection
    // (README, "Differences from prom-client").
    assert.deepEqual(missing, stddev ? [] : ['nodejs_eventloop_lag_stddev_seconds']);
    assert.ok(theirs.size >= 30, `prom-client produced only ${theirs.size} families`);
  });
}

test('the OTLP-to-Prometheus translation gives every metric the same name as exporter-prometheus', async () => {
  // The same metrics twice: through exporter-prometheus, and as the raw
  // OTLP data (name, unit, type) that a Collector would translate.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const shared = new MeterProvider({ readers: [exporter] });
  const { provider, collect: collectMetrics } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: shared });
  const handleRaw = registerProcessMetrics({ meterProvider: provider });
  await settle();
  // The GC pauses a collection counts show in the histogram at the next one.
  await exporterText(exporter);
  const exposed = parseExposition(await exporterText(exporter));
  const metrics = await collectMetrics();
  handle.shutdown();
  handleRaw.shutdown();
  await shared.shutdown();
  for (const metric of metrics.values()) {
    const translated = otlpToPrometheusName(metric.descriptor.name, metric.descriptor.unit, kindOf(metric));
    assert.ok(exposed.has(translated), `${metric.descriptor.name} (${metric.descriptor.unit}) becomes ${translated} through the Collector, which exporter-prometheus does not expose`);
  }
  assert.ok(metrics.size >= 35);
});
