// Every catalog metric through the real OpenTelemetry SDK, in both namings:
// instrument type, unit and attribute keys as the naming contract says
// (written out here from the contract, not taken from the code), and values
// that agree with /proc, getrusage() and the v8 module.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { registerProcessMetrics } from 'procmeter';
import { makeProcessBusy } from '../helpers/busy-process.mjs';
import { kindOf, manualProvider, pointValue } from '../helpers/otel.mjs';
import { busyLoop } from '../helpers/assertions.mjs';
import { runNode } from '../helpers/child.mjs';
import { listedOpenFds, openFileLimits, procStartTimeSeconds, statusField } from '../helpers/ground-truth.mjs';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// name: [kind, unit, attribute keys]
const PROMETHEUS = {
  process_cpu_user_seconds: ['counter', 's', []],
  process_cpu_system_seconds: ['counter', 's', []],
  process_cpu_seconds: ['counter', 's', []],
  process_start_time_seconds: ['gauge', 's', []],
  process_resident_memory_bytes: ['gauge', 'By', []],
  process_virtual_memory_bytes: ['gauge', 'By', []],
  process_heap_bytes: ['gauge', 'By', []],
  process_open_fds: ['gauge', '{file_descriptor}', []],
  process_max_fds: ['gauge', '{file_descriptor}', []],
  process_threads: ['gauge', '{thread}', []],
  process_context_switches: ['counter', '{context_switch}', ['type']],
  process_page_faults: ['counter', '{fault}', ['type']],
  process_max_resident_memory_bytes: ['gauge', 'By', []],
  nodejs_version_info: ['gauge', '', ['major', 'minor', 'patch', 'version']],
  nodejs_gc_duration_seconds: ['histogram', 's', ['kind']],
  nodejs_gc_runs: ['counter', '{gc}', ['kind']],
  nodejs_gc_reclaimed_bytes: ['counter', 'By', ['kind']],
  procmeter_gc_pauses_dropped: ['counter', '{pause}', []],
  nodejs_heap_size_total_bytes: ['gauge', 'By', []],
  nodejs_heap_size_used_bytes: ['gauge', 'By', []],
  nodejs_external_memory_bytes: ['gauge', 'By', []],
  nodejs_heap_space_size_total_bytes: ['gauge', 'By', ['space']],
  nodejs_heap_space_size_used_bytes: ['gauge', 'By', ['space']],
  nodejs_heap_space_size_available_bytes: ['gauge', 'By', ['space']],
  nodejs_eventloop_lag_seconds: ['gauge', 's', []],
  nodejs_eventloop_lag_min_seconds: ['gauge', 's', []],
  nodejs_eventloop_lag_max_seconds: ['gauge', 's', []],
  nodejs_eventloop_lag_mean_seconds: ['gauge', 's', []],
  nodejs_eventloop_lag_p50_seconds: ['gauge', 's', []],
  nodejs_eventloop_lag_p90_seconds: ['gauge', 's', []],
  nodejs_eventloop_lag_p99_seconds: ['gauge', 's', []],
  nodejs_eventloop_utilization_ratio: ['gauge', '1', []],
  nodejs_active_resources: ['gauge', '{resource}', ['type']],
  nodejs_active_resources_total: ['gauge', '{resource}', []],
  nodejs_active_handles: ['gauge', '{handle}', ['type']],
  nodejs_active_handles_total: ['gauge', '{handle}', []],
  nodejs_active_requests: ['gauge', '{request}', ['type']],
  nodejs_active_requests_total: ['gauge', '{request}', []],
};

const SEMCONV = {
  'process.cpu.time': ['counter', 's', ['cpu.mode']],
  'process.memory.usage': ['upDownCounter', 'By', []],
  'process.memory.virtual': ['upDownCounter', 'By', []],
  'process.unix.file_descriptor.count': ['upDownCounter', '{file_descriptor}', []],
  'process.unix.file_descriptor.limit': ['upDownCounter', '{file_descriptor}', []],
  'process.thread.count': ['upDownCounter', '{thread}', []],
  'process.context_switches': ['counter', '{context_switch}', ['process.context_switch.type']],
  'process.paging.faults': ['counter', '{fault}', ['system.paging.fault.type']],
  'process.uptime': ['gauge', 's', []],
  'v8js.gc.duration': ['histogram', 's', ['v8js.gc.type']],
  'v8js.gc.reclaimed': ['counter', 'By', ['v8js.gc.type']],
  'procmeter.gc.pause.dropped': ['counter', '{pause}', []],
  'v8js.memory.heap.used': ['upDownCounter', 'By', ['v8js.heap.space.name']],
  'v8js.memory.heap.space.size': ['upDownCounter', 'By', ['v8js.heap.space.name']],
  'v8js.memory.heap.space.available_size': ['upDownCounter', 'By', ['v8js.heap.space.name']],
  'v8js.memory.heap.space.physical_size': ['upDownCounter', 'By', ['v8js.heap.space.name']],
  'nodejs.eventloop.delay.min': ['gauge', 's', []],
  'nodejs.eventloop.delay.max': ['gauge', 's', []],
  'nodejs.eventloop.delay.mean': ['gauge', 's', []],
  'nodejs.eventloop.delay.p50': ['gauge', 's', []],
  'nodejs.eventloop.delay.p90': ['gauge', 's', []],
  'nodejs.eventloop.delay.p99': ['gauge', 's', []],
  'nodejs.eventloop.utilization': ['gauge', '1', []],
  'nodejs.eventloop.time': ['counter', 's', ['nodejs.eventloop.state']],
  'v8js.resource.active': ['gauge', '{resource}', ['v8js.resource.type']],
};

// A process with something of everything: a listening server (handles), a
// timer (resources), a read pending on an empty FIFO (an active request),
// garbage collected (GC pauses), and a busy event loop (delay samples).
const undoBusy = await makeProcessBusy();
after(undoBusy);

async function collected(naming) {
  const { provider, collect: collectMetrics } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider, naming });
  for (let i = 0; i < 5; i++) {
    Array.from({ length: 50_000 }, (_, j) => ({ j })); // garbage
    busyLoop(5);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  gc();
  // The GC pauses a collection counts are recorded just after it, for the
  // next one: this one counts the garbage's and the forced GC's.
  await collectMetrics();
  await new Promise((resolve) => setImmediate(resolve));
  // Readings of the same sources just before and after the collection, to
  // bracket what it exported.
  const cpuBefore = process.cpuUsage();
  const usageBefore = process.resourceUsage();
  const fdsBefore = listedOpenFds();
  const metrics = await collectMetrics();
  const fdsAfter = listedOpenFds();
  const usageAfter = process.resourceUsage();
  const cpuAfter = process.cpuUsage();
  return { metrics, handle, collectAgain: collectMetrics, provider, fdsBefore, fdsAfter, usageBefore, usageAfter, cpuBefore, cpuAfter };
}

/** Asserts low <= value <= high, with `slack` either side. */
function assertBetween(value, low, high, label, slack = 0) {
  assert.ok(value >= low - slack && value <= high + slack, `${label}: ${value} not in [${low}, ${high}]${slack ? ` +-${slack}` : ''}`);
}

for (const [naming, expected] of [['prometheus', PROMETHEUS], ['semconv', SEMCONV]]) {
  test(`${naming} naming: every catalog metric is exported with its type, unit and attributes`, async () => {
    const { metrics, handle } = await collected(naming);
    handle.shutdown();
    assert.deepEqual([...metrics.keys()].sort(), Object.keys(expected).sort(), 'the set of metric names');
    for (const [name, [kind, unit, attributeKeys]] of Object.entries(expected)) {
      const metric = metrics.get(name);
      assert.equal(kindOf(metric), kind, `${name} type`);
      assert.equal(metric.descriptor.unit, unit, `${name} unit`);
      assert.ok(metric.dataPoints.length > 0, `${name} has data points`);
      for (const point of metric.dataPoints) {
        assert.deepEqual(Object.keys(point.attributes).sort(), [...attributeKeys].sort(), `${name} attribute keys`);
        const value = kind === 'histogram' ? point.value.count : point.value;
        assert.ok(Number.isFinite(value), `${name} value ${value}`);
      }
    }
  });
}

test('semconv attribute values are the ones the conventions define', async () => {
  const { metrics, handle } = await collected('semconv');
  handle.shutdown();
  const values = (name, key) => new Set(metrics.get(name).dataPoints.map((p) => p.attributes[key]));
  assert.deepEqual(values('process.cpu.time', 'cpu.mode'), new Set(['user', 'system']));
  assert.deepEqual(values('process.context_switches', 'process.context_switch.type'), new Set(['voluntary', 'involuntary']));
  assert.deepEqual(values('process.paging.faults', 'system.paging.fault.type'), new Set(['minor', 'major']));
  assert.deepEqual(values('nodejs.eventloop.time', 'nodejs.eventloop.state'), new Set(['active', 'idle']));
  for (const type of values('v8js.gc.duration', 'v8js.gc.type')) assert.ok(['major', 'minor', 'incremental', 'weakcb'].includes(type), type);
  assert.deepEqual(values('v8js.memory.heap.used', 'v8js.heap.space.name'), new Set(v8.getHeapSpaceStatistics().map((s) => s.space_name)));
  assert.ok(values('v8js.resource.active', 'v8js.resource.type').has('Timeout'));
  assert.deepEqual(metrics.get('v8js.gc.duration').dataPoints[0].value.buckets.boundaries, [0.01, 0.1, 1, 10]);
});

test('prometheus naming: values agree with /proc, getrusage() as Node reads it, and the v8 module', async () => {
  const { metrics, handle, fdsBefore, fdsAfter, usageBefore, usageAfter, cpuBefore, cpuAfter } = await collected('prometheus');
  handle.shutdown();
  const value = (name, attributes) => pointValue(metrics.get(name), attributes);
  // Ground truth from /proc (the test's own readers).
  assert.equal(value('process_max_fds'), openFileLimits().soft);
  // /proc/uptime and the start ticks have 10 ms steps, Date.now() moves on.
  assert.ok(Math.abs(value('process_start_time_seconds') - procStartTimeSeconds()) <= 0.05, `start time ${value('process_start_time_seconds')} vs /proc ${procStartTimeSeconds()}`);
  assert.equal(value('process_threads'), statusField('Threads'));
  // Less the fd procmeter counts with (as collect()'s openFds).
  assertBetween(value('process_open_fds'), Math.min(fdsBefore, fdsAfter) - 1, Math.max(fdsBefore, fdsAfter) - 1, 'process_open_fds');
  // process.cpuUsage() reads the same getrusage() counters.
  const seconds = (usage) => (usage.user + usage.system) / 1e6;
  assertBetween(value('process_cpu_seconds'), seconds(cpuBefore), seconds(cpuAfter), 'process_cpu_seconds', 0.002);
  assertBetween(value('process_cpu_user_seconds'), cpuBefore.user / 1e6, cpuAfter.user / 1e6, 'process_cpu_user_seconds', 0.002);
  assert.ok(Math.abs(value('process_cpu_seconds') - value('process_cpu_user_seconds') - value('process_cpu_system_seconds')) < 1e-9);
  // process.resourceUsage(): getrusage() too, read by Node.
  for (const type of ['voluntary', 'involuntary']) {
    const field = `${type}ContextSwitches`;
    assertBetween(value('process_context_switches', { type }), usageBefore[field], usageAfter[field], `process_context_switches{type="${type}"}`);
  }
  const heap = v8.getHeapStatistics();
  assert.ok(Math.abs(value('nodejs_heap_size_total_bytes') - heap.total_heap_size) < 4 * 1024 * 1024);
  assert.equal(metrics.get('nodejs_heap_space_size_total_bytes').dataPoints.length, v8.getHeapSpaceStatistics().length);
  // prom-client's space label: the V8 name up to '_space'.
  assert.ok(metrics.get('nodejs_heap_space_size_used_bytes').dataPoints.some((p) => p.attributes.space === 'old'));
  assert.equal(value('nodejs_version_info', { version: process.version }), 1);
  const runs = (kind) => value('nodejs_gc_runs', { kind });
  // A kind with no pause since registration has no histogram point (the
  // garbage above does not always fill a young generation that V8 may
  // have grown: Node 26 sometimes ran no scavenge there).
  const histogramCount = (kind) => {
    const points = metrics.get('nodejs_gc_duration_seconds').dataPoints.filter((p) => p.attributes.kind === kind);
    assert.ok(points.length <= 1, `one histogram point per kind (${kind}: ${points.length})`);
    return points.length === 0 ? 0 : points[0].value.count;
  };
  assert.ok(runs('major') >= 1, 'the forced GC is counted');
  assert.ok(histogramCount('major') >= 1, "the forced GC's pause, after registration, is in the histogram");
  for (const kind of ['minor', 'major']) {
    assert.ok(histogramCount(kind) <= runs(kind), `${kind}: the histogram holds pauses since registration, runs since load`);
  }
  assert.ok(value('nodejs_active_handles', { type: 'Server' }) >= 1);
  assert.ok(value('nodejs_active_requests', { type: 'FSReqCallback' }) >= 1);
  assert.ok(value('nodejs_eventloop_lag_max_seconds') >= 0.004, 'the busy loops delayed the event loop');
});

test('registered in the first lines of a main module or a worker (or a preload), the first lag is a loop turn, not the rest of the start-up', () => {
  // The snippet is a CommonJS main module, and then a worker's script.
  const snippet = `
    const { registerProcessMetrics } = require('procmeter');
    const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
    class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
    const reader = new Reader();
    const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), metricGroups: ['eventLoop'] });
    for (const end = Date.now() + 400; Date.now() < end; ); // the rest of a slow start-up
    setTimeout(async () => {
      const { resourceMetrics } = await reader.collect();
      const lag = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'nodejs_eventloop_lag_seconds');
      handle.shutdown();
      report(lag?.dataPoints[0]?.value);
    }, 50);`;
  const report = runNode(
    `const { Worker } = require('node:worker_threads');
     const lags = {};
     const report = (lag) => {
       lags.main = lag;
       const worker = new Worker(\`const report = (lag) => require('node:worker_threads').parentPort.postMessage(lag); \${${JSON.stringify(snippet)}}\`, { eval: true });
       worker.once('message', (workerLag) => {
         lags.worker = workerLag;
         console.log(JSON.stringify(lags));
       });
     };
     ${snippet}`,
    { type: 'commonjs' },
  ).json();
  for (const thread of ['main', 'worker']) {
    assert.ok(report[thread] >= 0 && report[thread] < 0.2, `${thread}: first lag ${report[thread]} s after a 0.4 s start-up`);
  }
});

test('the GC histogram records every pause once: its count grows exactly with the runs counter', async () => {
  const { provider, collect: collectMetrics } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider, metricGroups: ['gc'] });
  const first = await collectMetrics();
  // (A histogram with no pause recorded yet is not exported at all.)
  const count = (metrics) => (metrics.get('nodejs_gc_duration_seconds')?.dataPoints ?? []).reduce((sum, p) => sum + p.value.count, 0);
  const runs = (metrics) => metrics.get('nodejs_gc_runs').dataPoints.reduce((sum, p) => sum + p.value, 0);
  for (let i = 0; i < 20; i++) {
    Array.from({ length: 40_000 }, (_, j) => ({ j }));
    if (i % 5 === 0) gc();
  }
  // A collection's pauses are recorded on the next turn of the event loop,
  // after it, and exported by the collection after it.
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  await turn();
  const second = await collectMetrics();
  await turn();
  const third = await collectMetrics();
  await turn();
  const fourth = await collectMetrics();
  handle.shutdown();
  assert.ok(runs(second) - runs(first) >= 4);
  assert.equal(count(third) - count(second), runs(second) - runs(first));
  assert.equal(count(fourth) - count(third), runs(third) - runs(second), 'no pause is recorded twice');
});

for (const mode of ['observable', 'push']) {
  test(`${mode} mode: at every export the GC histogram has counted exactly the runs the counter reports (observable: reported at the collection before), also with GCs during collections`, () => {
    // A young generation of 1 MB that never grows: the collections
    // themselves (the SDK allocates) trigger scavenges, some of them between
    // reading the GC counts and draining the pause ring. Before pauses
    // waited for a snapshot to count their GC, 1-2% of exports here had one
    // pause more or fewer than runs.
    const report = runNode(
      `import { registerProcessMetrics } from 'procmeter';
       import { manualProvider } from ${JSON.stringify(new URL('../helpers/otel.mjs', import.meta.url).href)};
       const { provider, collect } = manualProvider();
       const handle = registerProcessMetrics({ meterProvider: provider, mode: ${JSON.stringify(mode)}, pushIntervalMs: 0 });
       const sum = (points, value) => (points ?? []).reduce((total, point) => total + value(point), 0);
       const mismatches = [];
       let runs = 0;
       // Push mode: update() records the pauses, the export has them. Observable
       // mode: a collection's pauses are recorded on the next turn of the event
       // loop, after it, and exported by the collection after it.
       const observable = ${JSON.stringify(mode)} === 'observable';
       // (The first export has the pauses recorded at registration.)
       let runsBefore;
       for (let i = 0; i < 1500; i++) {
         if (observable) await new Promise((resolve) => setImmediate(resolve));
         else handle.update();
         const metrics = await collect();
         runs = sum(metrics.get('nodejs_gc_runs')?.dataPoints, (p) => p.value);
         const counted = sum(metrics.get('nodejs_gc_duration_seconds')?.dataPoints, (p) => p.value.count);
         const expected = observable ? runsBefore : runs;
         if (expected !== undefined && counted !== expected) mismatches.push({ export: i, runs, runsBefore, counted });
         runsBefore = runs;
       }
       handle.shutdown();
       console.log(JSON.stringify({ runs, mismatches: mismatches.slice(0, 5), mismatchCount: mismatches.length }));`,
      { nodeArgs: ['--max-semi-space-size=1', '--semi-space-growth-factor=1'], timeout: 120_000 },
    ).json();
    assert.ok(report.runs >= 100, `only ${report.runs} GCs ran: the test saw too few to tell`);
    assert.equal(report.mismatchCount, 0, JSON.stringify(report.mismatches));
  });
}

for (const mode of ['observable', 'push']) {
  test(`${mode} mode without the gc group: the GC pauses stay in the ring, for the application's own drainGcPauses()`, () => {
    const report = runNode(
      `import { collect, drainGcPauses, registerProcessMetrics } from 'procmeter';
       import { manualProvider } from ${JSON.stringify(new URL('../helpers/otel.mjs', import.meta.url).href)};
       const out = new Float64Array(2 * 64);
       const drainAll = () => { let total = 0; for (let n; (n = drainGcPauses(out)) > 0; ) total += n; return total; };
       const runs = (snapshot) => Object.values(snapshot.gc).reduce((sum, kind) => sum + kind.count, 0);
       const { provider, collect: collectMetrics } = manualProvider();
       const handle = registerProcessMetrics({ meterProvider: provider, mode: ${JSON.stringify(mode)}, metricGroups: ['process', 'heap'], pushIntervalMs: 0 });
       drainAll();
       const before = collect();
       for (let i = 0; i < 20; i++) {
         Array.from({ length: 40_000 }, (_, j) => ({ j }));
         if (i % 5 === 0) globalThis.gc();
       }
       const after = collect();
       handle.update();
       await collectMetrics();
       handle.shutdown();
       console.log(JSON.stringify({ ran: runs(after) - runs(before), drained: drainAll() }));`,
      { nodeArgs: ['--expose-gc'] },
    ).json();
    assert.ok(report.ran >= 4, `only ${report.ran} GCs ran`);
    // At least the GCs between the two snapshots (more if a GC ran just
    // before the first or after the second): none was taken by procmeter.
    assert.ok(report.drained >= report.ran, `the application drained ${report.drained} pauses of ${report.ran} GCs`);
  });
}

for (const [mode, early] of [['observable', 'waiting'], ['push', 'waiting'], ['observable', 'noop'], ['push', 'noop']]) {
  test(`${mode} mode: a registration ${early === 'waiting' ? "waiting for the SDK's global provider" : "on the API's no-op provider"} keeps no GC pauses from a real one`, () => {
    // Calling registerProcessMetrics() before sdk.start() and again after
    // it is common: until the first finds a global provider it exports
    // nothing, so the pauses since load must wait in the ring for the
    // second (here on a provider of its own, so the first keeps waiting).
    const report = runNode(
      `import { registerProcessMetrics } from 'procmeter';
       import { manualProvider } from ${JSON.stringify(new URL('../helpers/otel.mjs', import.meta.url).href)};
       import * as api from '@opentelemetry/api';
       const noop = ${early === 'noop'} ? { meterProvider: api.metrics.getMeterProvider() } : {};
       const early = registerProcessMetrics({ ...noop, mode: ${JSON.stringify(mode)}, pushIntervalMs: 0 });
       for (let i = 0; i < 3; i++) { Array.from({ length: 200_000 }, (_, j) => ({ j })); globalThis.gc(); }
       early.update();
       const { provider, collect } = manualProvider();
       const handle = registerProcessMetrics({ meterProvider: provider, mode: ${JSON.stringify(mode)}, pushIntervalMs: 0 });
       handle.update();
       const metrics = await collect();
       const sum = (points, value) => (points ?? []).reduce((total, point) => total + value(point), 0);
       const runs = sum(metrics.get('nodejs_gc_runs')?.dataPoints, (p) => p.value);
       const counted = sum(metrics.get('nodejs_gc_duration_seconds')?.dataPoints, (p) => p.value.count);
       handle.shutdown();
       early.shutdown();
       console.log(JSON.stringify({ runs, counted }));`,
      { nodeArgs: ['--expose-gc'] },
    ).json();
    assert.ok(report.runs >= 3, `only ${report.runs} GCs ran`);
    assert.equal(report.counted, report.runs);
  });
}

test('metricGroups leaves out the groups not asked for', async () => {
  const { provider, collect: collectMetrics } = manualProvider();
  const handle = registerProcessMetrics({ meterProvider: provider, metricGroups: ['heap'] });
  const names = [...(await collectMetrics()).keys()];
  handle.shutdown();
  assert.deepEqual(names.sort(), Object.keys(PROMETHEUS).filter((n) => n.startsWith('nodejs_heap') || n === 'nodejs_external_memory_bytes').sort());
});

test('a registration without the process, gc and heap groups takes no snapshot at its collections and updates', (t) => {
  // The real addon behind a wrapper that counts its sample() calls (the
  // loader accepts a .js binding through PROCMETER_BINARY_PATH).
  const noFallback = { PROCMETER_FORCE_FALLBACK: '' };
  const real = runNode(`console.log(JSON.stringify(require('procmeter').loadDiagnostics().binaryPath ?? null))`, { type: 'commonjs', env: noFallback }).json();
  if (real === null) return t.skip('no native binary loads here');
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-samples-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, 'counting-binding.js');
  writeFileSync(
    wrapper,
    `const real = require(${JSON.stringify(real)});
     globalThis.procmeterSampleCalls = 0;
     module.exports = Object.create(real, {
       sample: { value: (...args) => { globalThis.procmeterSampleCalls += 1; return real.sample(...args); } },
     });`,
  );
  const report = runNode(
    `import { loadDiagnostics, registerProcessMetrics } from 'procmeter';
     import { manualProvider } from ${JSON.stringify(new URL('../helpers/otel.mjs', import.meta.url).href)};
     const results = {};
     for (const groups of [['eventLoop', 'resources', 'runtime'], ['process']]) {
       for (const mode of ['observable', 'push']) {
         const { provider, collect } = manualProvider();
         const handle = registerProcessMetrics({ meterProvider: provider, mode, metricGroups: groups, pushIntervalMs: 0 });
         const before = globalThis.procmeterSampleCalls;
         let exported = 0;
         for (let i = 0; i < 5; i++) {
           handle.update();
           exported = (await collect()).size;
         }
         results[groups.join('+') + ' ' + mode] = { samples: globalThis.procmeterSampleCalls - before, exported: exported > 0 };
         handle.shutdown();
       }
     }
     console.log(JSON.stringify({ binary: loadDiagnostics().binaryPath, results }));`,
    { env: { ...noFallback, PROCMETER_BINARY_PATH: wrapper } },
  ).json();
  assert.equal(report.binary, wrapper, 'the counting wrapper is the binary in use');
  for (const mode of ['observable', 'push']) {
    assert.deepEqual(report.results[`eventLoop+resources+runtime ${mode}`], { samples: 0, exported: true }, mode);
    // The control: the process group samples at each of the 5 collections
    // or updates, so the wrapper does see the registration's reads.
    const processGroup = report.results[`process ${mode}`];
    assert.ok(processGroup.samples >= 5 && processGroup.exported, `${mode}: ${JSON.stringify(processGroup)}`);
  }
});
