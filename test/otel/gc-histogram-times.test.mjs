// The GC pause histogram's points never start after they end, in either
// temporality. The SDK stamps a collection's end time before it runs the
// observable callbacks, and starts a histogram series at the record that
// opens it: pauses recorded inside procmeter's callback opened series that
// started 1-5 ms after they ended (at a kind's first pause in cumulative
// temporality, whenever a kind came back after a window without it in
// delta), which OTLP backends may reject.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runNode } from '../helpers/child.mjs';

for (const temporality of ['cumulative', 'delta']) {
  for (const mode of ['observable', 'push']) {
    test(`${mode} mode, ${temporality} temporality: every GC histogram point starts at or before its end, and every pause is exported once`, () => {
      const report = runNode(
        `import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
         import { collect, registerProcessMetrics } from 'procmeter';
         const temporality = AggregationTemporality.${temporality.toUpperCase()};
         class Reader extends MetricReader {
           constructor() { super({ aggregationTemporalitySelector: () => temporality }); }
           onForceFlush() { return Promise.resolve(); }
           onShutdown() { return Promise.resolve(); }
         }
         const reader = new Reader();
         const provider = new MeterProvider({ readers: [reader] });
         const handle = registerProcessMetrics({ meterProvider: provider, mode: ${JSON.stringify(mode)}, pushIntervalMs: 0, metricGroups: ['gc'] });
         const nanos = ([seconds, nanoseconds]) => BigInt(seconds) * 1_000_000_000n + BigInt(nanoseconds);
         const backwards = [];
         let exported = 0;
         const exportOnce = async () => {
           handle.update(); // push mode: brings the histogram up to date
           const { resourceMetrics } = await reader.collect();
           for (const metric of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
             if (metric.descriptor.name !== 'nodejs_gc_duration_seconds') continue;
             for (const point of metric.dataPoints) {
               if (nanos(point.startTime) > nanos(point.endTime)) backwards.push({ kind: point.attributes.kind, byMs: Number(nanos(point.startTime) - nanos(point.endTime)) / 1e6 });
             }
           }
           return resourceMetrics;
         };
         const countIn = (resourceMetrics) =>
           resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === 'nodejs_gc_duration_seconds').flatMap((m) => m.dataPoints).reduce((sum, p) => sum + p.value.count, 0);
         const counts = [];
         const runsBefore = Object.values(collect().gc).reduce((sum, kind) => sum + kind.count, 0);
         // Kinds that come and go: major GCs in some windows only, minor ones
         // in most, none in some. Each window is long enough for a clock tick.
         for (let window = 0; window < 12; window++) {
           if (window % 3 !== 2) Array.from({ length: 300_000 }, (_, i) => ({ i }));
           if (window % 4 === 1) globalThis.gc();
           await new Promise((resolve) => setTimeout(resolve, 3));
           counts.push(countIn(await exportOnce()));
         }
         // A flush at the end, the way a provider's shutdown ends: update()
         // first records every pause counted so far.
         await new Promise((resolve) => setTimeout(resolve, 3));
         counts.push(countIn(await exportOnce()));
         const runs = Object.values(collect().gc).reduce((sum, kind) => sum + kind.count, 0);
         handle.shutdown();
         // Cumulative: the last export's count is the total; delta: the sum is.
         const exportedPauses = ${JSON.stringify(temporality)} === 'delta' ? counts.reduce((a, b) => a + b, 0) : counts.at(-1);
         console.log(JSON.stringify({ backwards, exportedPauses, runsBefore, runs }));`,
        { nodeArgs: ['--expose-gc'] },
      ).json();
      assert.deepEqual(report.backwards, [], `points whose start is after their end: ${JSON.stringify(report.backwards)}`);
      // Every pause since load (the registration took the ring's), exported
      // once: at most the runs counted after the last export, at least
      // those counted before the test's GCs plus its forced major ones.
      assert.ok(report.exportedPauses <= report.runs && report.exportedPauses >= report.runsBefore + 3, JSON.stringify(report));
    });
  }
}
