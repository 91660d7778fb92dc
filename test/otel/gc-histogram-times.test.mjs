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
         const runsBeforeFinal = Object.values(collect().gc).reduce((sum, kind) => sum + kind.count, 0);
         counts.push(countIn(await exportOnce()));
         const runs = Object.values(collect().gc).reduce((sum, kind) => sum + kind.count, 0);
         handle.shutdown();
         // Cumulative: the last export's count is the total; delta: the sum is.
         const exportedPauses = ${JSON.stringify(temporality)} === 'delta' ? counts.reduce((a, b) => a + b, 0) : counts.at(-1);
         console.log(JSON.stringify({ backwards, exportedPauses, runsBefore, runsBeforeFinal, runs }));`,
        { nodeArgs: ['--expose-gc'] },
      ).json();
      assert.deepEqual(report.backwards, [], `points whose start is after their end: ${JSON.stringify(report.backwards)}`);
      // Every pause since load (the registration took the ring's), exported
      // once: the last export (after an update(), which records every pause
      // counted so far) has at least the GCs counted just before it, at most
      // those counted after it (a GC may run during it).
      assert.ok(report.runsBeforeFinal >= report.runsBefore + 3, `the test's forced GCs: ${JSON.stringify(report)}`);
      assert.ok(report.exportedPauses >= report.runsBeforeFinal && report.exportedPauses <= report.runs, JSON.stringify(report));
    });
  }
}

test('two registrations on one provider (both namings): no GC histogram point of either starts after it ends', () => {
  // The first callback's reading hands pauses to the second registration's
  // histogram too, before that one's own callback has run.
  const report = runNode(
    `import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
     import { registerProcessMetrics } from 'procmeter';
     class Reader extends MetricReader {
       constructor() { super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA }); }
       onForceFlush() { return Promise.resolve(); }
       onShutdown() { return Promise.resolve(); }
     }
     const reader = new Reader();
     const meterProvider = new MeterProvider({ readers: [reader] });
     process.on('warning', () => {}); // the namings-collide warning
     const handles = [registerProcessMetrics({ meterProvider }), registerProcessMetrics({ meterProvider, naming: 'semconv' })];
     const nanos = ([seconds, nanoseconds]) => BigInt(seconds) * 1_000_000_000n + BigInt(nanoseconds);
     const backwards = [];
     let points = 0;
     for (let i = 0; i < 12; i++) {
       Array.from({ length: 200_000 }, (_, j) => ({ j }));
       if (i % 2 === 0) globalThis.gc();
       await new Promise((resolve) => setTimeout(resolve, 3));
       const { resourceMetrics } = await reader.collect();
       for (const metric of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
         if (!['nodejs_gc_duration_seconds', 'v8js.gc.duration'].includes(metric.descriptor.name)) continue;
         for (const point of metric.dataPoints) {
           points += 1;
           if (nanos(point.startTime) > nanos(point.endTime)) backwards.push({ collection: i, metric: metric.descriptor.name, byMs: Number(nanos(point.startTime) - nanos(point.endTime)) / 1e6 });
         }
       }
     }
     for (const handle of handles) handle.shutdown();
     console.log(JSON.stringify({ points, backwards }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  assert.ok(report.points >= 12, `only ${report.points} histogram points`);
  assert.deepEqual(report.backwards, []);
});

test("observable update() right after a collection, in the same turn, records that collection's pauses: a provider shutdown next exports every major GC", () => {
  const report = runNode(
    `import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
     import { collect, registerProcessMetrics } from 'procmeter';
     const exports = [];
     class Reader extends MetricReader {
       onForceFlush() { return Promise.resolve(); }
       onShutdown() { return this.collect().then(({ resourceMetrics }) => void exports.push(resourceMetrics)); }
     }
     const reader = new Reader();
     const provider = new MeterProvider({ readers: [reader] });
     const handle = registerProcessMetrics({ meterProvider: provider, metricGroups: ['gc'] });
     for (let i = 0; i < 3; i++) globalThis.gc();
     await reader.collect(); // counts them; their pauses are held for the next turn
     globalThis.gc();
     handle.update(); // no turn since: records what the collection held, and the last GC's
     await provider.shutdown();
     const major = (name, value) => exports[0].scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes.kind === 'major')?.[value];
     console.log(JSON.stringify({ runs: major('nodejs_gc_runs', 'value'), pauses: major('nodejs_gc_duration_seconds', 'value')?.count ?? 0, counted: collect().gc.markSweepCompact.count }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  // Major GCs here are the forced ones alone: exactly 4 counted, 4 recorded.
  assert.deepEqual(report, { runs: 4, pauses: 4, counted: 4 });
});

test('a collection in a beforeExit listener does not keep the process going', () => {
  const report = runNode(
    `import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
     import { registerProcessMetrics } from 'procmeter';
     class Reader extends MetricReader { onForceFlush() { return Promise.resolve(); } onShutdown() { return Promise.resolve(); } }
     const reader = new Reader();
     registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }) });
     let events = 0;
     process.on('beforeExit', () => {
       events += 1;
       if (events > 50) { console.log(JSON.stringify({ events })); process.exit(0); }
       void reader.collect();
     });
     process.on('exit', () => { if (events <= 50) console.log(JSON.stringify({ events })); });`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  // One beforeExit for the collection's own promise turn at most, then exit.
  assert.ok(report.events <= 2, `beforeExit came ${report.events} times`);
});
