// Options, shutdown, the global provider, and failures that must stay inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '@opentelemetry/api';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { collect as collectSnapshot, registerProcessMetrics } from 'procmeter';
import { manualProvider, pointValue } from '../helpers/otel.mjs';
import { runNode } from '../helpers/child.mjs';

test('bad options throw a TypeError or RangeError naming the option and what it accepts', () => {
  const cases = [
    ['x', TypeError, /options must be an object or undefined; got the string "x"/],
    [{ naming: 'openmetrics' }, RangeError, /options\.naming must be one of 'prometheus', 'semconv'; got the string "openmetrics"/],
    [{ naming: 1 }, TypeError, /options\.naming must be one of/],
    [{ mode: 'pull' }, RangeError, /options\.mode must be one of 'observable', 'push'/],
    [{ metricGroups: 'process' }, TypeError, /options\.metricGroups must be an array of 'process', 'gc', 'heap', 'eventLoop', 'resources', 'runtime'/],
    [{ metricGroups: ['process', 'cpu'] }, RangeError, /options\.metricGroups\[1\] must be one of/],
    [{ metricGroups: ['gc', undefined] }, TypeError, /options\.metricGroups\[1\] must be one of .*; got undefined/],
    // eslint-disable-next-line no-sparse-arrays
    [{ metricGroups: [, 'gc'] }, TypeError, /options\.metricGroups\[0\] must be one of .*; got undefined/],
    // A registration of nothing: every group left out, or only ones the naming has no metric in.
    [{ metricGroups: [] }, RangeError, /options\.metricGroups selects no metric of naming 'prometheus' \(got \[\]\); groups with metrics in it: 'process', 'gc', 'heap', 'eventLoop', 'resources', 'runtime'$/],
    [{ naming: 'semconv', metricGroups: ['runtime'] }, RangeError, /options\.metricGroups selects no metric of naming 'semconv' \(got \['runtime'\]\); groups with metrics in it: 'process', 'gc', 'heap', 'eventLoop', 'resources'$/],
    [{ gcDurationBuckets: [0.1, 0.01] }, RangeError, /options\.gcDurationBuckets must be non-empty, finite, non-negative and strictly ascending/],
    [{ gcDurationBuckets: ['1'] }, TypeError, /options\.gcDurationBuckets must be an array of numbers \(seconds\); got an array with the string "1" at index 0/],
    // eslint-disable-next-line no-sparse-arrays
    [{ gcDurationBuckets: [0.1, 1, ,] }, TypeError, /options\.gcDurationBuckets must be an array of numbers \(seconds\); got an array with undefined at index 2/],
    [{ eventLoopDelayResolutionMs: 0 }, RangeError, /options\.eventLoopDelayResolutionMs must be an integer from 1 to 60000/],
    [{ eventLoopDelayStddev: 'yes' }, TypeError, /options\.eventLoopDelayStddev must be a boolean/],
    [{ pushIntervalMs: -5 }, RangeError, /options\.pushIntervalMs must be an integer from 0/],
    [{ pushEveryRequests: 1.5 }, RangeError, /options\.pushEveryRequests must be an integer/],
    [{ meterProvider: {} }, TypeError, /options\.meterProvider must be an OpenTelemetry MeterProvider/],
    [{ meterProvider: { getMeter() {} } }, TypeError, /options\.meterProvider\.getMeter\(\) must return an OpenTelemetry Meter; what it returned has no createHistogram, createObservableCounter/],
    [
      { meterProvider: { getMeter: () => ({ createHistogram() {} }) }, mode: 'push' },
      TypeError,
      /options\.meterProvider\.getMeter\(\) must return an OpenTelemetry Meter; what it returned has no createCounter, createUpDownCounter, createGauge$/,
    ],
    [{ nameing: 'semconv' }, TypeError, /unknown option 'nameing'; known options are meterProvider, naming/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => registerProcessMetrics(options), (error) => error instanceof type && message.test(error.message), JSON.stringify(options));
  }
});

test('after shutdown(), registering on the same provider in the other mode is refused: the SDK would export both sets of instruments', async () => {
  for (const [first, second] of [
    ['observable', 'push'],
    ['push', 'observable'],
  ]) {
    const { provider, reader } = manualProvider();
    const handle = registerProcessMetrics({ meterProvider: provider, mode: first, pushIntervalMs: 0, metricGroups: ['process'] });
    handle.update();
    handle.shutdown();
    assert.throws(
      () => registerProcessMetrics({ meterProvider: provider, mode: second, metricGroups: ['process'] }),
      (error) => error instanceof RangeError && new RegExp(`options\\.mode is '${second}', but procmeter already made '${first}' instruments`).test(error.message),
    );
    // The same mode again, another naming, or another provider are fine,
    // and the provider exports one process_cpu_seconds, not one per mode.
    const again = registerProcessMetrics({ meterProvider: provider, mode: first, pushIntervalMs: 0, metricGroups: ['process'] });
    again.update();
    const { resourceMetrics } = await reader.collect();
    again.shutdown();
    const cpu = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).filter((metric) => metric.descriptor.name === 'process_cpu_seconds');
    assert.equal(cpu.length, 1, `${first} then ${second}: ${cpu.length} process_cpu_seconds metrics`);
    // (The other naming on the same provider warns that two names collide
    // in Prometheus; see copies.test.mjs.)
    const warnings = [];
    const onWarning = (warning) => warnings.push(warning.code);
    process.on('warning', onWarning);
    registerProcessMetrics({ meterProvider: provider, mode: second, naming: 'semconv', pushIntervalMs: 0, metricGroups: ['process'] }).shutdown();
    registerProcessMetrics({ meterProvider: manualProvider().provider, mode: second, pushIntervalMs: 0, metricGroups: ['process'] }).shutdown();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    assert.deepEqual(warnings, ['PROCMETER_NAMINGS_COLLIDE']);
    await provider.shutdown();
  }
});

test('after shutdown(), other gcDurationBuckets on the same provider are reported as not used: the SDK keeps the first histogram', async () => {
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const { provider, reader } = manualProvider();
    registerProcessMetrics({ meterProvider: provider, metricGroups: ['gc'], gcDurationBuckets: [0.5, 1] }).shutdown();
    registerProcessMetrics({ meterProvider: provider, metricGroups: ['gc'], gcDurationBuckets: [0.5, 1] }).shutdown();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.deepEqual(warnings, [], 'the same buckets again: nothing to say');
    const handle = registerProcessMetrics({ meterProvider: provider, metricGroups: ['gc'], gcDurationBuckets: [0.001, 0.002] });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].code, 'PROCMETER_GC_BUCKETS_KEPT');
    assert.match(warnings[0].message, /options\.gcDurationBuckets \[0\.001, 0\.002\] is not used: .* already has the buckets \[0\.5, 1\]/);
    // What the warning says is what the SDK does: a forced GC, recorded by
    // update() outside any collection.
    setFlagsFromString('--expose-gc');
    runInNewContext('gc')();
    handle.update();
    const { resourceMetrics } = await reader.collect();
    handle.shutdown();
    const histogram = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === 'nodejs_gc_duration_seconds');
    assert.ok(histogram?.dataPoints.some((point) => point.value.count >= 1), 'a pause recorded');
    assert.deepEqual(histogram.dataPoints[0].value.buckets.boundaries, [0.5, 1]);
    await provider.shutdown();
  } finally {
    process.off('warning', onWarning);
  }
});

test("registrations on the API's no-op provider, or shut down while waiting for the SDK's, bind no mode or buckets, which stay free for the SDK's provider", () => {
  // No instrument survives on the no-op provider, and a registration that
  // waited for the global provider and was shut down made none, so neither
  // the mode check nor the buckets warning has anything to protect there.
  const report = runNode(
    `import { registerProcessMetrics } from 'procmeter';
     import { metrics } from '@opentelemetry/api';
     import { manualProvider } from ${JSON.stringify(new URL('../helpers/otel.mjs', import.meta.url).href)};
     const warnings = [];
     process.on('warning', (warning) => warnings.push(warning.code));
     const outcome = (register) => { try { register().shutdown(); return 'registered'; } catch (error) { return error.constructor.name; } };
     const noop = metrics.getMeterProvider();
     const early = [
       outcome(() => registerProcessMetrics({ mode: 'observable', gcDurationBuckets: [0.5, 1] })),
       outcome(() => registerProcessMetrics({ mode: 'push', gcDurationBuckets: [0.001], pushIntervalMs: 0 })),
       outcome(() => registerProcessMetrics({ meterProvider: noop, mode: 'observable', gcDurationBuckets: [0.5, 1] })),
       outcome(() => registerProcessMetrics({ meterProvider: noop, mode: 'push', gcDurationBuckets: [0.001], pushIntervalMs: 0 })),
     ];
     const { provider } = manualProvider();
     metrics.setGlobalMeterProvider(provider);
     const late = [
       outcome(() => registerProcessMetrics({ mode: 'push', gcDurationBuckets: [0.25], pushIntervalMs: 0 })),
       outcome(() => registerProcessMetrics({ mode: 'observable' })),
       outcome(() => registerProcessMetrics({ mode: 'push', gcDurationBuckets: [0.125], pushIntervalMs: 0 })),
     ];
     await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
     console.log(JSON.stringify({ early, late, warnings }));`,
  ).json();
  assert.deepEqual(report.early, ['registered', 'registered', 'registered', 'registered']);
  // On the SDK's provider the checks hold as before: the other mode is
  // refused and other buckets are reported as not used.
  assert.deepEqual(report.late, ['registered', 'RangeError', 'registered']);
  assert.deepEqual(report.warnings, ['PROCMETER_GC_BUCKETS_KEPT']);
});

test('without a meterProvider option, the global MeterProvider is used', async () => {
  const { provider, collect } = manualProvider();
  assert.ok(api.metrics.setGlobalMeterProvider(provider));
  try {
    const handle = registerProcessMetrics({ metricGroups: ['process'] });
    assert.ok((await collect()).has('process_cpu_seconds'));
    handle.shutdown();
  } finally {
    api.metrics.disable();
  }
});

// The order the push mode needs anyway (the handle, then the provider)
// loses nothing in observable mode either: shutdown() takes a last reading,
// which the provider's next collection (its shutdown, here) exports.
test('observable: shutdown() before the provider\'s shutdown exports what grew since the last collection', async () => {
  const { provider, reader, collect } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider });
  const first = pointValue((await collect()).get('process_cpu_seconds'));
  const spin = Date.now() + 50;
  while (Date.now() < spin);
  const cpuSeconds = () => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  };
  const before = cpuSeconds();
  handle.shutdown();
  const after = cpuSeconds();
  const last = pointValue((await collect()).get('process_cpu_seconds'));
  assert.ok(last >= before - 0.001 && last <= after + 0.001, `exported ${last}, read at shutdown: [${before}, ${after}] (first collection ${first})`);
  await reader.shutdown();
});

// The SDK goes through its list of callbacks during a collection: one
// removed from there would make it skip the next.
test('observable: shutdown() called back from inside a collection does not keep another registration on the provider from that collection', async () => {
  const { provider, collect } = manualProvider();
  let first;
  const wrappers = new Map();
  const wrapped = (callback) => {
    if (!wrappers.has(callback)) {
      wrappers.set(callback, (result) => {
        callback(result);
        first?.shutdown(); // the first registration's own collection shuts it down
      });
    }
    return wrappers.get(callback);
  };
  const calling = {
    getMeter(...args) {
      const meter = provider.getMeter(...args);
      return new Proxy(meter, {
        get(target, property) {
          if (property === 'addBatchObservableCallback') return (callback, observables) => target.addBatchObservableCallback(wrapped(callback), observables);
          if (property === 'removeBatchObservableCallback') return (callback, observables) => target.removeBatchObservableCallback(wrapped(callback), observables);
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
  first = registerProcessMetrics({ meterProvider: calling, naming: 'prometheus' });
  const second = registerProcessMetrics({ meterProvider: provider, naming: 'semconv' });
  const collected = await collect();
  assert.ok(collected.has('process_cpu_seconds'), 'the first registration reported its last collection');
  assert.ok(collected.has('process.cpu.time'), 'the second registration was collected too');
  second.shutdown();
});

// A shut-down observable registration waits for its provider's next
// collection to hand over its last reading; a registration made after it
// reads everything anew, so the waiting one goes at once: registering and
// shutting down over and over on a provider that is never collected (an
// endpoint nobody scrapes) holds nothing.
test('observable: register and shut down 1,000 times on a provider never collected: the heap does not grow', () => {
  const report = runNode(
    `import { registerProcessMetrics } from 'procmeter';
     import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
     class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
     const provider = new MeterProvider({ readers: [new Reader()] });
     const cycle = () => registerProcessMetrics({ meterProvider: provider }).shutdown();
     const settle = async () => { await new Promise((resolve) => setImmediate(resolve)); globalThis.gc(); globalThis.gc(); };
     for (let i = 0; i < 50; i++) cycle();
     await settle();
     const before = process.memoryUsage().heapUsed;
     for (let i = 0; i < 1000; i++) { cycle(); if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve)); }
     await settle();
     console.log(JSON.stringify({ grownBytes: process.memoryUsage().heapUsed - before }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  // About 16 KB a cycle when each waited for good.
  assert.ok(report.grownBytes < 4 * 2 ** 20, `the heap grew ${(report.grownBytes / 2 ** 20).toFixed(1)} MB`);
});

// A shut-down observable registration hands its last reading on until its
// callback's removal runs; a registration made on the same provider in the
// meantime reads the same metrics anew. Observed after the new one's higher
// totals, the older ones would look like a counter reset to the SDK, which
// would add them again: exported totals must stay at or below the truth.
for (const groups of ['all', 'fewer']) {
  test(`observable: re-registered (${groups} groups) on a provider while the last reading of the one shut down is still handed on, two readers export totals that never exceed the truth or go back`, () => {
    const report = runNode(
      `import { registerProcessMetrics, collect, createSnapshot } from 'procmeter';
       import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
       class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
       const snapshot = createSnapshot();
       const truth = () => {
         collect(snapshot);
         const usage = process.cpuUsage();
         return { runs: Object.values(snapshot.gc).reduce((total, kind) => total + kind.count, 0), cpu: (usage.user + usage.system) / 1e6 };
       };
       const a = new Reader();
       const b = new Reader();
       const provider = new MeterProvider({ readers: [a, b] });
       const exported = async (reader) => {
         const { resourceMetrics } = await reader.collect();
         const metrics = resourceMetrics.scopeMetrics.filter((scope) => scope.scope.name === 'procmeter').flatMap((scope) => scope.metrics);
         const sum = (name) => metrics.find((m) => m.descriptor.name === name)?.dataPoints.reduce((total, point) => total + point.value, 0);
         return { runs: sum('nodejs_gc_runs'), cpu: sum('process_cpu_seconds'), truth: truth() };
       };
       const work = () => { const until = Date.now() + 100; while (Date.now() < until); for (let i = 0; i < 3; i++) globalThis.gc(); };
       const seen = [];
       const first = registerProcessMetrics({ meterProvider: provider });
       seen.push(await exported(a), await exported(b));
       work();
       first.shutdown();
       seen.push(await exported(a)); // the last reading goes to a
       work();
       const again = registerProcessMetrics({ meterProvider: provider, ${groups === 'fewer' ? "metricGroups: ['gc']" : ''} });
       seen.push(await exported(b), await exported(a), await exported(b)); // one turn: the removal has not run
       await new Promise((resolve) => setImmediate(resolve));
       work();
       seen.push(await exported(a), await exported(b));
       again.shutdown();
       console.log(JSON.stringify(seen));`,
      { nodeArgs: ['--expose-gc'] },
    ).json();
    const byReader = [report.filter((_, i) => [0, 2, 4, 6].includes(i)), report.filter((_, i) => [1, 3, 5, 7].includes(i))];
    for (const [name, points] of byReader.entries()) {
      for (const [i, point] of points.entries()) {
        assert.ok(point.runs <= point.truth.runs, `reader ${name}, export ${i}: ${point.runs} GC runs exported, ${point.truth.runs} counted`);
        assert.ok(point.cpu <= point.truth.cpu + 0.002, `reader ${name}, export ${i}: ${point.cpu} CPU seconds exported, ${point.truth.cpu} used`);
        if (i > 0) assert.ok(point.runs >= points[i - 1].runs && point.cpu >= points[i - 1].cpu, `reader ${name}: export ${i} went back: ${JSON.stringify(points)}`);
      }
    }
    // The GC runs keep up: the re-registration reads them anew.
    const last = report.at(-1);
    assert.equal(last.runs, last.truth.runs, JSON.stringify(report));
  });
}

test('after shutdown() the callbacks are gone, and a process that registered exits on its own', async () => {
  const { provider, collect } = manualProvider();
  const observable = registerProcessMetrics({ meterProvider: provider });
  const first = await collect();
  assert.ok(first.has('process_cpu_seconds') && first.has('nodejs_heap_size_used_bytes'), [...first.keys()].join());
  observable.shutdown();
  observable.shutdown(); // idempotent
  // The SDK keeps exporting an asynchronous instrument's last cumulative
  // values; what must stop is procmeter reading: the values stay frozen.
  const frozen = (await collect()).get('process_cpu_seconds').dataPoints[0].value;
  const spin = Date.now() + 30;
  while (Date.now() < spin);
  assert.equal((await collect()).get('process_cpu_seconds').dataPoints[0].value, frozen, 'read again after shutdown');

  for (const mode of ['observable', 'push']) {
    const child = runNode(
      `
      import { collect as collectSnapshot, registerProcessMetrics } from 'procmeter';
      import { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } from '@opentelemetry/sdk-metrics';
      const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 50 });
      const provider = new MeterProvider({ readers: [reader] });
      const handle = registerProcessMetrics({ meterProvider: provider, mode: '${mode}', pushIntervalMs: 20 });
      handle.update();
      // Until a periodic export has happened (on a loaded machine timers run late).
      while (exporter.getMetrics().length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise((resolve) => setTimeout(resolve, 100));
      handle.shutdown();
      await provider.shutdown();
      console.log(JSON.stringify({ exports: exporter.getMetrics().length }));
      // No process.exit(): the process must end because nothing is left.`,
      { timeout: 10_000 },
    );
    assert.equal(child.signal, null, `${mode}: still running after 10 s (killed by ${child.signal})`);
    assert.equal(child.status, 0, child.stderr);
    assert.ok(JSON.parse(child.stdout).exports >= 2, `${mode}: the periodic reader exported`);
  }
});

// An application that takes a last reading when its event loop runs dry:
// procmeter's lag probe (a setImmediate) must not give the loop more work,
// or 'beforeExit' comes again after every update, for ever.
test("push mode: update() and shutdown() from a 'beforeExit' listener let the process exit, after one 'beforeExit'", () => {
  for (const last of ['update', 'shutdown']) {
    const child = runNode(
      `
      import { registerProcessMetrics } from 'procmeter';
      import { MeterProvider } from '@opentelemetry/sdk-metrics';
      const handle = registerProcessMetrics({ meterProvider: new MeterProvider(), mode: 'push', pushIntervalMs: 0 });
      let beforeExit = 0;
      process.on('beforeExit', () => {
        beforeExit += 1;
        if (beforeExit > 100) process.exit(3); // the loop keeps coming back
        handle.${last}();
      });
      process.on('exit', () => console.log(JSON.stringify({ beforeExit })));`,
      { timeout: 10_000 },
    );
    assert.equal(child.status, 0, `${last}(): exit ${child.status} ${child.signal ?? ''} ${child.stderr}`);
    assert.deepEqual(JSON.parse(child.stdout), { beforeExit: 1 }, last);
  }
});

test('a value the platform cannot provide is left out, never exported as 0 or NaN', () => {
  // The JavaScript fallback cannot see reclaimed bytes (NaN).
  const result = runNode(
    `
    import { registerProcessMetrics, gcImplementation } from 'procmeter';
    import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
    class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
    const reader = new Reader();
    const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), metricGroups: ['gc'] });
    const { resourceMetrics } = await reader.collect();
    const names = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
    handle.shutdown();
    console.log(JSON.stringify({ gcImplementation, names }));`,
    { env: { PROCMETER_FORCE_FALLBACK: '1' } },
  ).json();
  assert.equal(result.gcImplementation, 'fallback');
  assert.ok(result.names.includes('nodejs_gc_runs'));
  assert.ok(!result.names.includes('nodejs_gc_reclaimed_bytes'), `reclaimed bytes exported: ${result.names}`);
});

test('a source that fails while collecting stays inside procmeter: no exception reaches the application or the SDK, the other sources report, and its series keep their values', async () => {
  const original = process.getActiveResourcesInfo;
  const uncaught = [];
  const onUncaught = (error) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  const timer = setInterval(() => {}, 60_000); // a resource type that stays
  try {
    for (const mode of ['observable', 'push']) {
      const { provider, reader, collect } = manualProvider();
      const handle = registerProcessMetrics({ meterProvider: provider, mode, pushIntervalMs: 0 });
      handle.update();
      const before = await collect();
      const timersBefore = pointValue(before.get('nodejs_active_resources'), { type: 'Timeout' });
      assert.ok(timersBefore >= 1, `${mode}: timers before`);
      process.getActiveResourcesInfo = () => {
        throw new Error('broken runtime API');
      };
      const cpuBefore = pointValue(before.get('process_cpu_seconds'));
      // Turns of the event loop for its group to have something to report.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const busyUntil = Date.now() + 30;
      while (Date.now() < busyUntil);
      handle.update();
      const { errors } = await reader.collect();
      assert.deepEqual(errors, [], `${mode}: the SDK saw errors`);
      const after = await collect();
      process.getActiveResourcesInfo = original;
      // Read at the failing collection: the process group still reported.
      assert.ok(pointValue(after.get('process_cpu_seconds')) > cpuBefore, `${mode}: CPU seconds moved on`);
      assert.ok(after.get('nodejs_eventloop_lag_seconds'), `${mode}: the event loop group reported`);
      // The failed source's series are not reported gone (0).
      assert.equal(pointValue(after.get('nodejs_active_resources'), { type: 'Timeout' }), timersBefore, `${mode}: timers after the failed read`);
      handle.shutdown();
    }
  } finally {
    clearInterval(timer);
    process.getActiveResourcesInfo = original;
    process.removeListener('uncaughtException', onUncaught);
  }
  assert.deepEqual(uncaught, []);
});

for (const mode of ['observable', 'push']) {
  test(`${mode}: after shutdown(), the GC histogram still counts exactly the GCs nodejs_gc_runs reports, and the pauses since go to the registration that goes on`, () => {
    const result = runNode(
      `
      import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
      import { collect, registerProcessMetrics } from 'procmeter';
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const register = () => {
        const reader = new Reader();
        const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), mode: '${mode}', pushIntervalMs: 0, metricGroups: ['gc'] });
        return { reader, handle };
      };
      const majorIn = async (reader, name) => {
        const { resourceMetrics } = await reader.collect();
        return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes.kind === 'major');
      };
      // Push mode: an update, then an export. Observable mode: the pauses a
      // collection counts are in the next one's histogram.
      const majorOf = async ({ reader, handle }) => {
        if ('${mode}' === 'push') handle.update();
        const runs = (await majorIn(reader, 'nodejs_gc_runs'))?.value;
        if ('${mode}' === 'observable') await new Promise((resolve) => setImmediate(resolve));
        return { runs, pauses: (await majorIn(reader, 'nodejs_gc_duration_seconds'))?.value.count ?? 0 };
      };
      const a = register();
      const b = register();
      globalThis.gc();
      globalThis.gc();
      const beforeShutdown = await majorOf(a);
      await majorOf(b);
      for (let i = 0; i < 5; i++) globalThis.gc();
      a.handle.shutdown();
      const afterShutdown = await majorOf(a);
      const goesOn = await majorOf(b);
      console.log(JSON.stringify({ beforeShutdown, afterShutdown, goesOn, counted: collect().gc.markSweepCompact.count }));
      b.handle.shutdown();`,
      { nodeArgs: ['--expose-gc'] },
    ).json();
    const { beforeShutdown, afterShutdown, goesOn, counted } = result;
    const detail = JSON.stringify(result);
    assert.ok(beforeShutdown.runs >= 2 && counted >= beforeShutdown.runs + 5, detail);
    assert.equal(beforeShutdown.pauses, beforeShutdown.runs, detail);
    assert.equal(afterShutdown.pauses, afterShutdown.runs, `the histogram of the registration that shut down counts the GCs its counter reports: ${detail}`);
    // The counter stops at shutdown's own last reading, in both modes.
    assert.ok(afterShutdown.runs >= beforeShutdown.runs + 5, detail);
    assert.equal(goesOn.pauses, goesOn.runs, `the other registration got every pause: ${detail}`);
    assert.equal(goesOn.runs, counted, detail);
  });
}

for (const mode of ['observable', 'push']) {
  // The zero-code start and the application share one registration on the
  // provider; the start's shutdown() releases its handle, then shuts the
  // provider down, whose last collection must still have every pause.
  test(`${mode}: shutdown() of one of two handles on a registration, then a collection at once: the histogram counts every GC the counter reports`, () => {
    const result = runNode(
      `
      import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
      import { registerProcessMetrics } from 'procmeter';
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const reader = new Reader();
      const options = { meterProvider: new MeterProvider({ readers: [reader] }), mode: '${mode}', pushIntervalMs: 0, metricGroups: ['gc'] };
      const zeroCode = registerProcessMetrics(options);
      const application = registerProcessMetrics({ ...options });
      zeroCode.update();
      await reader.collect();
      await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < 3; i++) globalThis.gc();
      zeroCode.shutdown();
      const { resourceMetrics } = await reader.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const major = (name) => metrics.find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes.kind === 'major')?.value;
      console.log(JSON.stringify({ runs: major('nodejs_gc_runs'), pauses: major('nodejs_gc_duration_seconds')?.count ?? 0 }));
      application.shutdown();`,
      { nodeArgs: ['--expose-gc'] },
    ).json();
    assert.ok(result.runs >= 3, JSON.stringify(result));
    assert.equal(result.pauses, result.runs, JSON.stringify(result));
  });

  test(`${mode}: letting one of two handles go does not put a registration that never collected in the running for the process metrics`, () => {
    const report = runNode(
      `
      import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
      import { registerProcessMetrics } from 'procmeter';
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const reader = new Reader();
      const options = { meterProvider: new MeterProvider({ readers: [reader] }), mode: '${mode}', pushIntervalMs: 0 };
      const first = registerProcessMetrics(options);
      const second = registerProcessMetrics({ ...options });
      first.shutdown();
      const afterRelease = second.reportsProcessMetrics;
      await reader.collect();
      if ('${mode}' === 'push') second.update();
      console.log(JSON.stringify({ afterRelease, afterCollection: second.reportsProcessMetrics }));
      second.shutdown();`,
    ).json();
    // Push mode's release is an update, which does enter the running (as its timer would).
    assert.deepEqual(report, { afterRelease: mode === 'push', afterCollection: true });
  });

  test(`${mode}: shutdown() called back from inside a collection or update (by the application's MeterProvider) stops after it, with every pause its GC counter counted`, () => {
    const result = runNode(
      `
      import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
      import { registerProcessMetrics } from 'procmeter';
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const reader = new Reader();
      const real = new MeterProvider({ readers: [reader] });
      // The application's wrapper of its provider: once armed, the next
      // value procmeter hands it (a counter's add(), an observation) shuts
      // the registration down.
      let handle;
      let armed = false;
      const hook = () => { if (armed) { armed = false; handle.shutdown(); } };
      const wrappedCallbacks = new Map();
      const wrapped = (callback) => {
        if (!wrappedCallbacks.has(callback)) {
          wrappedCallbacks.set(callback, (result) => callback({ observe: (...args) => { hook(); return result.observe(...args); } }));
        }
        return wrappedCallbacks.get(callback);
      };
      const wrapMeter = (meter) => new Proxy(meter, {
        get(target, property) {
          if (property === 'createCounter') return (...args) => { const counter = target.createCounter(...args); return { add: (...a) => { hook(); return counter.add(...a); } }; };
          if (property === 'addBatchObservableCallback') return (callback, observables) => target.addBatchObservableCallback(wrapped(callback), observables);
          if (property === 'removeBatchObservableCallback') return (callback, observables) => target.removeBatchObservableCallback(wrapped(callback), observables);
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      handle = registerProcessMetrics({ meterProvider: { getMeter: (...args) => wrapMeter(real.getMeter(...args)) }, mode: '${mode}', pushIntervalMs: 0, metricGroups: ['process', 'gc'] });
      const majorIn = async (name) => {
        const { resourceMetrics } = await reader.collect();
        return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes.kind === 'major');
      };
      // Observable mode: the pauses a collection counts are in the next one's histogram.
      const read = async () => {
        const runs = (await majorIn('nodejs_gc_runs'))?.value;
        if ('${mode}' === 'observable') await new Promise((resolve) => setImmediate(resolve));
        return { runs, pauses: (await majorIn('nodejs_gc_duration_seconds'))?.value.count ?? 0 };
      };
      handle.update();
      await read();
      for (let i = 0; i < 3; i++) globalThis.gc();
      armed = true;
      if ('${mode}' === 'push') handle.update();
      const during = await read();
      for (let i = 0; i < 2; i++) globalThis.gc();
      handle.update(); // stopped: nothing
      const after = await read();
      console.log(JSON.stringify({ hooked: !armed, during, after, reports: handle.reportsProcessMetrics }));`,
      { nodeArgs: ['--expose-gc'] },
    ).json();
    const detail = JSON.stringify(result);
    assert.equal(result.hooked, true, `shutdown() was called back: ${detail}`);
    assert.ok(result.during.runs >= 3, detail);
    assert.equal(result.during.pauses, result.during.runs, `the reading under way handed on the pauses of the GCs it counted: ${detail}`);
    assert.deepEqual(result.after, result.during, `stopped after it: ${detail}`);
    assert.equal(result.reports, false);
  });
}

test('a registration that failed part-way still keeps its mode on that MeterProvider: the instruments it made stay in the SDK', () => {
  const real = manualProvider().provider;
  const broken = {
    getMeter: (...args) =>
      new Proxy(real.getMeter(...args), {
        get: (target, property) =>
          property === 'createObservableGauge' ? () => { throw new Error('no gauges today'); } : Reflect.get(target, property).bind(target),
      }),
  };
  // Observable counters are made before the gauges fail.
  assert.throws(() => registerProcessMetrics({ meterProvider: broken }), /no gauges today/);
  assert.throws(
    () => registerProcessMetrics({ meterProvider: broken, mode: 'push', pushIntervalMs: 0 }),
    (error) => error instanceof RangeError && /already made 'observable' instruments/.test(error.message),
  );
});

test('registering twice with one MeterProvider and naming counts everything once, until both handles shut down', async () => {
  const { provider, collect } = manualProvider();
  const options = { meterProvider: provider, mode: 'push', pushIntervalMs: 0, metricGroups: ['process', 'gc'] };
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning);
  process.on('warning', onWarning);
  const first = registerProcessMetrics(options);
  const second = registerProcessMetrics({ ...options }); // as the zero-code start and the app would
  const cpu = (metrics) => metrics.get('process_cpu_seconds').dataPoints[0].value;
  const runs = (metrics) => metrics.get('nodejs_gc_runs').dataPoints.reduce((sum, p) => sum + p.value, 0);
  const pauses = (metrics) => (metrics.get('nodejs_gc_duration_seconds')?.dataPoints ?? []).reduce((sum, p) => sum + p.value.count, 0);
  // Until a GC has run: a fixed amount may not fill a young generation that
  // earlier tests grew.
  const gcRuns = () => Object.values(collectSnapshot().gc).reduce((sum, kind) => sum + kind.count, 0);
  const makeGarbage = () => {
    const before = gcRuns();
    for (let i = 0; i < 500 && gcRuns() === before; i++) Array.from({ length: 40_000 }, (_, j) => ({ j }));
  };
  try {
    const cpuBefore = process.cpuUsage();
    first.update();
    second.update();
    const start = await collect();
    const cpuNow = process.cpuUsage();
    // The whole total since process start, once: neither nothing nor twice
    // the CPU used (both read getrusage, to the microsecond).
    const seconds = (usage) => (usage.user + usage.system) / 1e6;
    assert.ok(cpu(start) >= seconds(cpuBefore) - 1e-9 && cpu(start) <= seconds(cpuNow) + 1e-9, `${cpu(start)} s exported, process.cpuUsage() ${seconds(cpuBefore)} -> ${seconds(cpuNow)} s`);

    makeGarbage();
    second.update();
    first.update();
    const later = await collect();
    assert.ok(runs(later) > runs(start), 'GCs ran');
    assert.equal(pauses(later) - pauses(start), runs(later) - runs(start), 'each pause recorded once');

    first.shutdown();
    makeGarbage();
    first.update(); // a no-op now
    second.update(); // the registration lives on for the other handle
    const afterFirst = await collect();
    assert.ok(runs(afterFirst) > runs(later));
    assert.equal(pauses(afterFirst) - pauses(later), runs(afterFirst) - runs(later));
    assert.deepEqual([first.reportsProcessMetrics, second.reportsProcessMetrics], [false, true], 'a handle shut down reports nothing');

    // Other options for the same provider and naming: shared, with a warning.
    const third = registerProcessMetrics({ ...options, mode: 'observable' });
    assert.equal(third.mode, 'push');
    third.shutdown();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => w.code), ['PROCMETER_ALREADY_REGISTERED']);
    // Both handles shut down: a new registration starts afresh, with its
    // own options (other metric groups here), and warns of nothing.
    first.shutdown();
    second.shutdown();
    assert.equal(second.reportsProcessMetrics, false);
    const fresh = registerProcessMetrics({ ...options, metricGroups: ['process'] });
    fresh.update();
    fresh.shutdown();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => w.code), ['PROCMETER_ALREADY_REGISTERED']);
  } finally {
    process.off('warning', onWarning);
    first.shutdown();
    second.shutdown();
  }
});

test('registering again with only options the registration ignores changed (push settings in observable mode, a group\'s settings with the group off) shares it without a warning; a change that matters warns', async () => {
  const { provider } = manualProvider();
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning.code);
  process.on('warning', onWarning);
  const handles = [];
  try {
    const base = { meterProvider: provider, metricGroups: ['process', 'heap'] };
    handles.push(registerProcessMetrics(base));
    handles.push(registerProcessMetrics({ ...base, pushIntervalMs: 0, pushEveryRequests: 5 }));
    handles.push(registerProcessMetrics({ ...base, gcDurationBuckets: [0.5, 1], eventLoopDelayResolutionMs: 50, eventLoopDelayStddev: false }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, [], 'nothing that takes effect differs');
    handles.push(registerProcessMetrics({ ...base, metricGroups: ['process', 'heap', 'gc'], gcDurationBuckets: [0.5, 1] }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, ['PROCMETER_ALREADY_REGISTERED'], 'another metric group does');
  } finally {
    process.off('warning', onWarning);
    for (const handle of handles) handle.shutdown();
  }
});
