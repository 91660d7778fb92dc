// Push mode: differential counter updates against the real SDK's cumulative
// sums, over thousands of random sequences of readings, collections and
// update calls; and push and observable modes agreeing on the same reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as api from '@opentelemetry/api';
import { getHeapSpaceStatistics } from 'node:v8';

import { createSnapshot, registerProcessMetrics } from 'procmeter';
import { busyLoop } from '../helpers/assertions.mjs';
import { listedOpenFds } from '../helpers/ground-truth.mjs';
import { manualProvider, pointValue } from '../helpers/otel.mjs';

const require = createRequire(import.meta.url);
// Internals: the pieces registerProcessMetrics() is built from, so that the
// test can feed them readings of its own making.
const { catalogFor, createObserver, createPusher, mainThreadAttributes } = require('../../dist/cjs/otel/index.js');

// A deterministic PRNG, so a failure can be replayed from its seed.
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readingOf(snapshot) {
  return { snapshot, eventLoop: undefined, resources: undefined, nowSeconds: 1_800_000_000 };
}

const COUNTER_FIELDS = ['cpuUserSeconds', 'cpuSystemSeconds', 'voluntaryContextSwitches', 'involuntaryContextSwitches', 'minorPageFaults', 'majorPageFaults'];

// Where each counter field is exported, per naming: [metric, attributes].
const EXPORTED_AS = {
  prometheus: {
    cpuUserSeconds: ['process_cpu_user_seconds', {}],
    cpuSystemSeconds: ['process_cpu_system_seconds', {}],
    voluntaryContextSwitches: ['process_context_switches', { type: 'voluntary' }],
    involuntaryContextSwitches: ['process_context_switches', { type: 'involuntary' }],
    minorPageFaults: ['process_page_faults', { type: 'minor' }],
    majorPageFaults: ['process_page_faults', { type: 'major' }],
  },
  semconv: {
    cpuUserSeconds: ['process.cpu.time', { 'cpu.mode': 'user' }],
    cpuSystemSeconds: ['process.cpu.time', { 'cpu.mode': 'system' }],
    voluntaryContextSwitches: ['process.context_switches', { 'process.context_switch.type': 'voluntary' }],
    involuntaryContextSwitches: ['process.context_switches', { 'process.context_switch.type': 'involuntary' }],
    minorPageFaults: ['process.paging.faults', { 'system.paging.fault.type': 'minor' }],
    majorPageFaults: ['process.paging.faults', { 'system.paging.fault.type': 'major' }],
  },
};

for (const naming of ['prometheus', 'semconv']) test(`push mode, ${naming} naming: exported counters equal the highest reading so far, never decrease, never double count (2,000 random sequences)`, async () => {
  const specs = catalogFor(naming, false).metrics.filter((s) => s.group === 'process');
  for (let seed = 1; seed <= 2000; seed++) {
    const next = random(seed);
    const { provider, collect } = manualProvider();
    const meter = provider.getMeter('procmeter');
    const pushers = specs.map((spec) => createPusher(meter, api, spec, mainThreadAttributes));
    const snapshot = createSnapshot();
    const truth = Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0]));
    const best = Object.fromEntries(COUNTER_FIELDS.map((f) => [f, NaN]));
    let lastExported = Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0]));
    const steps = 5 + Math.floor(next() * 20);
    for (let step = 0; step < steps; step++) {
      // A new reading: counters usually grow, sometimes stay, sometimes are
      // unavailable (NaN), rarely read lower (a glitch that must not count).
      for (const field of COUNTER_FIELDS) {
        const roll = next();
        if (roll < 0.1) snapshot[field] = NaN;
        else if (roll < 0.15) snapshot[field] = Math.max(0, truth[field] - Math.floor(next() * 5));
        else {
          truth[field] += roll < 0.3 ? 0 : Math.floor(next() * 1000) + (field.includes('Seconds') ? next() : 0);
          snapshot[field] = truth[field];
        }
        if (Number.isFinite(snapshot[field])) best[field] = Number.isNaN(best[field]) ? snapshot[field] : Math.max(best[field], snapshot[field]);
      }
      // 1-3 update calls for the same reading (from several places).
      const updates = 1 + Math.floor(next() * 3);
      for (let u = 0; u < updates; u++) for (const push of pushers) push(readingOf(snapshot));
      if (next() < 0.5 || step === steps - 1) {
        const metrics = await collect();
        // A series never added to (every reading so far NaN) is not exported: 0.
        const value = (name, attributes) => {
          const metric = metrics.get(name);
          const point = metric?.dataPoints.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
          return point ? point.value : 0;
        };
        const exported = Object.fromEntries(COUNTER_FIELDS.map((field) => [field, value(...EXPORTED_AS[naming][field])]));
        for (const field of COUNTER_FIELDS) {
          const expected = Number.isNaN(best[field]) ? 0 : best[field];
          assert.ok(Math.abs(exported[field] - expected) < 1e-6, `seed ${seed} step ${step} ${field}: exported ${exported[field]}, highest reading ${expected}`);
          assert.ok(exported[field] >= lastExported[field], `seed ${seed} step ${step} ${field} went backwards`);
        }
        lastExported = exported;
      }
    }
    await provider.shutdown();
  }
});

test('push and observable modes export the same values for the same reading', async () => {
  for (const naming of ['prometheus', 'semconv']) {
    const specs = catalogFor(naming, true).metrics;
    const snapshot = createSnapshot();
    const { collect } = await import('procmeter');
    collect(snapshot);
    const reading = {
      snapshot,
      eventLoop: { minSeconds: 0.001, maxSeconds: 0.02, meanSeconds: 0.004, stddevSeconds: 0.002, p50Seconds: 0.003, p90Seconds: 0.01, p99Seconds: 0.019, lagSeconds: 0.0015, utilization: 0.4, activeSeconds: 12.5, idleSeconds: 30.25 },
      resources: { resources: new Map([['Timeout', 2], ['TCPServerWrap', 1]]), resourcesTotal: 3, handles: new Map([['Server', 1]]), handlesTotal: 1, requests: new Map(), requestsTotal: 0 },
      nowSeconds: 1_800_000_000,
    };

    const pushed = manualProvider();
    const pushers = specs.map((spec) => createPusher(pushed.provider.getMeter('procmeter'), api, spec, mainThreadAttributes));
    for (const push of pushers) push(reading);

    const observed = manualProvider();
    const meter = observed.provider.getMeter('procmeter');
    const observer = createObserver(meter, api, specs, mainThreadAttributes);
    meter.addBatchObservableCallback((result) => observer.observe(result, reading), observer.observables);

    const [a, b] = [await pushed.collect(), await observed.collect()];
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${naming}: the same metrics`);
    for (const [name, metric] of a) {
      const points = (m) => m.dataPoints.map((p) => [JSON.stringify(p.attributes), p.value]).sort();
      assert.deepEqual(points(metric), points(b.get(name)), `${naming} ${name}`);
    }
  }
});

/** A MeterProvider over `provider` whose counters are `wrap(name, counter)`. */
function wrappingCounters(provider, wrap) {
  return {
    getMeter(...args) {
      const meter = provider.getMeter(...args);
      return new Proxy(meter, {
        get(target, property) {
          if (property !== 'createCounter') return Reflect.get(target, property).bind(target);
          return (name, ...rest) => wrap(name, target.createCounter(name, ...rest));
        },
      });
    },
  };
}

test('update() called re-entrantly (from inside an instrument) and from several places adds nothing twice', async () => {
  const { provider, collect } = manualProvider();
  let handle;
  let reentered = 0;
  // A MeterProvider whose counters call update() again from inside add().
  const sneaky = wrappingCounters(provider, (_name, counter) => ({
    add(value, attributes) {
      reentered += 1;
      handle.update();
      counter.add(value, attributes);
    },
  }));
  handle = registerProcessMetrics({ meterProvider: sneaky, mode: 'push', pushIntervalMs: 0, metricGroups: ['process'] });
  const cpuBefore = process.cpuUsage();
  handle.update();
  handle.update();
  const metrics = await collect();
  const cpuAfter = process.cpuUsage();
  handle.shutdown();
  assert.ok(reentered > 0, 'the re-entrant path ran');
  const user = pointValue(metrics.get('process_cpu_user_seconds'));
  assert.ok(user >= cpuBefore.user / 1e6 - 0.01 && user <= cpuAfter.user / 1e6 + 0.01, `user CPU ${user} outside [${cpuBefore.user / 1e6}, ${cpuAfter.user / 1e6}]`);
});

test('push mode: an instrument whose add() throws costs neither the other instruments nor its own total', async () => {
  const { provider, collect } = manualProvider();
  let failing = true;
  // A MeterProvider whose process_cpu_seconds counter throws while `failing`.
  const flaky = wrappingCounters(provider, (name, counter) =>
    name !== 'process_cpu_seconds'
      ? counter
      : {
          add(value, attributes) {
            if (failing) throw new Error('exporter trouble');
            counter.add(value, attributes);
          },
        },
  );
  const handle = registerProcessMetrics({ meterProvider: flaky, mode: 'push', pushIntervalMs: 0 });
  busyLoop(50); // CPU time that the failed add() must not lose
  handle.update();
  const duringFailure = await collect();
  assert.equal(duringFailure.get('process_cpu_seconds'), undefined, 'nothing added while add() throws');
  // The instruments after it in the catalog, and the other groups, were updated.
  for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_gc_runs']) {
    assert.ok(duringFailure.has(name), `${name} updated`);
  }
  failing = false;
  const cpuBefore = process.cpuUsage();
  handle.update();
  const cpuAfter = process.cpuUsage();
  const seconds = (usage) => (usage.user + usage.system) / 1e6;
  const exported = pointValue((await collect()).get('process_cpu_seconds'));
  // The whole total since the process started, the CPU the failed update read included.
  assert.ok(
    exported >= seconds(cpuBefore) - 0.01 && exported <= seconds(cpuAfter) + 0.01,
    `process_cpu_seconds ${exported} outside [${seconds(cpuBefore)}, ${seconds(cpuAfter)}]`,
  );
  handle.shutdown();
});

test('push mode: countRequest() updates every N calls, the timer updates on its own, nothing after shutdown()', async () => {
  const { provider, collect } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider, mode: 'push', pushIntervalMs: 0, pushEveryRequests: 3, metricGroups: ['process'] });
  const middleware = handle.middleware();
  let nexts = 0;
  middleware({}, {}, () => (nexts += 1));
  middleware({}, {}, () => (nexts += 1));
  assert.equal((await collect()).size, 0, 'nothing before the third request');
  middleware({}, {}, () => (nexts += 1));
  assert.equal(nexts, 3);
  const afterThird = await collect();
  assert.ok(afterThird.has('process_cpu_seconds'));
  handle.shutdown(); // takes a last update
  const cpu = pointValue((await collect()).get('process_cpu_seconds'));
  for (let i = 0; i < 10; i++) handle.countRequest();
  handle.update();
  assert.equal(pointValue((await collect()).get('process_cpu_seconds')), cpu, 'no update after shutdown');

  const timed = manualProvider();
  const timedHandle = registerProcessMetrics({ meterProvider: timed.provider, mode: 'push', pushIntervalMs: 30, metricGroups: ['process'] });
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.ok((await timed.collect()).has('process_cpu_seconds'), 'the timer ran update()');
  timedHandle.shutdown();
});

test('push mode: shutdown() takes a last update, so CPU used since the previous one is exported', async () => {
  const { provider, collect } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider, mode: 'push', pushIntervalMs: 0, metricGroups: ['process'] });
  handle.update();
  busyLoop(100);
  const cpuBeforeShutdown = process.cpuUsage();
  handle.shutdown();
  const cpuAfterShutdown = process.cpuUsage();
  const exported = pointValue((await collect()).get('process_cpu_seconds'));
  const seconds = (usage) => (usage.user + usage.system) / 1e6;
  assert.ok(
    exported >= seconds(cpuBeforeShutdown) - 0.01 && exported <= seconds(cpuAfterShutdown) + 0.01,
    `exported ${exported} s, CPU was ${seconds(cpuBeforeShutdown)} s before shutdown() and ${seconds(cpuAfterShutdown)} s after`,
  );
  await provider.shutdown();
});

test('push mode: a registration made after shutdown() on the same provider, with the same or other options, goes on from the totals already added', async () => {
  // Other options make another catalog: its attribute objects must be the
  // same ones, or the last values pushed are not found and totals are added again.
  for (const naming of ['prometheus', 'semconv']) {
    for (const changed of [{}, { eventLoopDelayStddev: true }]) {
      const label = `${naming}, ${JSON.stringify(changed)}`;
      const { provider, collect } = manualProvider();
      const options = { meterProvider: provider, mode: 'push', pushIntervalMs: 0, naming, metricGroups: ['process', 'heap'] };
      const first = registerProcessMetrics(options);
      first.update();
      first.shutdown();
      // CPU spent between the registrations must be in the total, not lost
      // to a new baseline: far more than the bracket below is wide.
      busyLoop(200);
      const again = registerProcessMetrics({ ...options, ...changed });
      const cpuBefore = process.cpuUsage();
      const usageBefore = process.resourceUsage();
      again.update();
      const cpuAfter = process.cpuUsage();
      const usage = process.resourceUsage();
      const metrics = await collect();
      const fdsListed = listedOpenFds();
      const heapNow = heapUsedBySpace();
      again.shutdown();
      const cpuName = naming === 'prometheus' ? 'process_cpu_seconds' : 'process.cpu.time';
      const cpu = metrics.get(cpuName).dataPoints.reduce((sum, point) => sum + point.value, 0);
      const cpuSeconds = (usage) => (usage.user + usage.system) / 1e6;
      assert.ok(cpu >= cpuSeconds(cpuBefore) && cpu <= cpuSeconds(cpuAfter), `${label}: ${cpuName} ${cpu} s, process.cpuUsage() ${cpuSeconds(cpuBefore)} -> ${cpuSeconds(cpuAfter)} s`);
      // An attributed counter in both namings.
      const switchesName = naming === 'prometheus' ? 'process_context_switches' : 'process.context_switches';
      const switches = metrics.get(switchesName).dataPoints.reduce((sum, point) => sum + point.value, 0);
      const switchCount = (usage) => usage.voluntaryContextSwitches + usage.involuntaryContextSwitches;
      assert.ok(switches >= switchCount(usageBefore) && switches <= switchCount(usage), `${label}: ${switchesName} ${switches}, getrusage ${switchCount(usageBefore)} -> ${switchCount(usage)}`);
      const fdName = naming === 'prometheus' ? 'process_open_fds' : 'process.unix.file_descriptor.count';
      // procmeter leaves its kept /proc/self/fd directory fd out of the count.
      assert.equal(pointValue(metrics.get(fdName)), fdsListed - 1, `${label}: ${fdName}`);
      // Heap space use: a gauge in prometheus naming, an up-down counter
      // (added to by differences) in semconv naming. Old space moves little
      // between the update and the v8 module's reading.
      const heapName = naming === 'prometheus' ? 'nodejs_heap_space_size_used_bytes' : 'v8js.memory.heap.used';
      const spaceKey = naming === 'prometheus' ? 'space' : 'v8js.heap.space.name';
      const oldSpace = metrics.get(heapName).dataPoints.find((p) => p.attributes[spaceKey] === (naming === 'prometheus' ? 'old' : 'old_space'));
      const ratio = oldSpace.value / heapNow.get('old_space');
      assert.ok(ratio > 0.8 && ratio < 1.2, `${label}: ${heapName} old space ${oldSpace.value}, v8 module ${heapNow.get('old_space')}`);
      await provider.shutdown();
    }
  }
});

function heapUsedBySpace() {
  return new Map(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size]));
}

test("semconv push mode: the up-down counters follow the value up and down across updates (fds opened and closed, old space grown), by the /proc listing and the v8 module", async () => {
  const { openSync, closeSync } = await import('node:fs');
  const { provider, collect } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider, naming: 'semconv', mode: 'push', pushIntervalMs: 0 });
  const read = async () => {
    const metrics = await collect();
    const oldSpace = metrics.get('v8js.memory.heap.used').dataPoints.find((p) => p.attributes['v8js.heap.space.name'] === 'old_space').value;
    return { fds: pointValue(metrics.get('process.unix.file_descriptor.count')), oldSpace };
  };
  const oldSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
  let kept = [];
  try {
    handle.update();
    const first = await read();
    // procmeter leaves its kept /proc/self/fd directory fd out of the count.
    assert.equal(first.fds, listedOpenFds() - 1, 'first update');

    const fds = Array.from({ length: 25 }, () => openSync('/dev/null', 'r'));
    // Several MB that full GCs move to old space.
    kept = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc');
    gc();
    gc();
    const oldBefore = oldSpaceUsed();
    handle.update();
    const oldAfter = oldSpaceUsed();
    const grown = await read();
    assert.equal(grown.fds, listedOpenFds() - 1, 'after opening 25 fds');
    assert.equal(grown.fds - first.fds, 25);
    assert.ok(oldAfter - first.oldSpace > 4 * 1024 * 1024, `the premise: old space grew by ${oldAfter - first.oldSpace} bytes`);
    assert.ok(grown.oldSpace >= Math.min(oldBefore, oldAfter) && grown.oldSpace <= Math.max(oldBefore, oldAfter), `old space ${grown.oldSpace}, v8 module ${oldBefore} -> ${oldAfter}`);

    for (const fd of fds) closeSync(fd);
    handle.update();
    assert.equal((await read()).fds, listedOpenFds() - 1, 'after closing them');
  } finally {
    handle.shutdown();
    await provider.shutdown();
    kept = null;
  }
});
