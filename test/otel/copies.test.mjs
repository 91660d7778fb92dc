// Two copies of procmeter in one process (two versions in nested
// node_modules), and threads on the native addon beside threads on the
// fallback: the process metrics are still reported by one thread at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runNode } from '../helpers/child.mjs';
import { isNative } from '../helpers/procmeter.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

// A second copy of the package with binaries of its own (real files: the
// dynamic loader would hand back the first copy's library for the same
// file), resolving the OpenTelemetry packages where the first copy does.
function secondCopy(t) {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-copy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const packageDir = join(dir, 'node_modules', 'procmeter');
  mkdirSync(join(packageDir, 'build', 'Release'), { recursive: true });
  cpSync(join(root, 'package.json'), join(packageDir, 'package.json'));
  cpSync(join(root, 'dist'), join(packageDir, 'dist'), { recursive: true });
  for (const name of ['procmeter_core.node', 'procmeter_v8.node']) {
    copyFileSync(join(root, 'build', 'Release', name), join(packageDir, 'build', 'Release', name));
  }
  symlinkSync(join(root, 'node_modules', '@opentelemetry'), join(dir, 'node_modules', '@opentelemetry'));
  return packageDir;
}

// `registerAndCollect(procmeter)` registers the given copy with a fresh
// MeterProvider and returns what its collections see.
const HELPERS = `
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
  async function registerAndCollect(procmeter) {
    const reader = new Reader();
    const handle = procmeter.registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }) });
    const collectOnce = async () => {
      const { resourceMetrics } = await reader.collect();
      const names = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => m.descriptor.name);
      return { reports: handle.reportsProcessMetrics, processMetrics: names.filter((n) => n.startsWith('process_')).length };
    };
    return { handle, collectOnce, first: await collectOnce() };
  }
`;

test('two copies of procmeter in one thread, and in worker threads beside it (native and fallback): one thread and copy reports the process metrics', { skip: !isNative && 'needs the native addon' }, (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    ${HELPERS}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    const a = require('procmeter');
    const b = require(${JSON.stringify(copy)});
    // In a worker: register the given copy, report, collect again when told,
    // shut down when told.
    const WORKER = HELPERS_SOURCE + \`
      const { parentPort, workerData } = require('node:worker_threads');
      const procmeter = require(workerData.copy);
      registerAndCollect(procmeter).then(({ handle, collectOnce, first }) => {
        parentPort.postMessage({ implementation: procmeter.implementation, binaryPath: procmeter.loadDiagnostics().binaryPath ?? null, first });
        parentPort.on('message', async (message) => {
          if (message === 'collect') return parentPort.postMessage(await collectOnce());
          handle.shutdown();
          parentPort.close();
        });
      });\`;
    (async () => {
      const mainA = await registerAndCollect(a);
      const mainB = await registerAndCollect(b);
      const workers = [
        new Worker(WORKER, { eval: true, workerData: { copy: ${JSON.stringify(copy)} } }),
        new Worker(WORKER, { eval: true, workerData: { copy: 'procmeter' }, env: { ...process.env, PROCMETER_FORCE_FALLBACK: '1' } }),
      ];
      const firsts = (await Promise.all(workers.map((w) => once(w, 'message')))).map(([m]) => m);
      // The copy that reported shuts down: the other copy on this thread takes over.
      mainA.handle.shutdown();
      const bAfterA = await mainB.collectOnce();
      const aAgain = await registerAndCollect(a);
      // Both main-thread registrations gone: a worker takes over.
      mainB.handle.shutdown();
      aAgain.handle.shutdown();
      const laters = [];
      for (const w of workers) {
        w.postMessage('collect');
        laters.push((await once(w, 'message'))[0]);
      }
      for (const w of workers) w.postMessage('stop');
      await Promise.all(workers.map((w) => once(w, 'exit')));
      console.log(JSON.stringify({
        binaries: [a.loadDiagnostics().binaryPath, b.loadDiagnostics().binaryPath, ...firsts.map((f) => f.binaryPath)],
        implementations: [a.implementation, b.implementation, ...firsts.map((f) => f.implementation)],
        mainFirst: [mainA.first, mainB.first],
        workersFirst: firsts.map((f) => f.first),
        bAfterA,
        aAgain: aAgain.first,
        workersLater: laters,
      }));
    })();`.replace('HELPERS_SOURCE', JSON.stringify(HELPERS)),
    { type: 'commonjs' },
  ).json();
  const [binaryA, binaryB, binaryWorkerB] = result.binaries;
  assert.ok(binaryB.startsWith(copy) && binaryWorkerB.startsWith(copy), `the second copy loads its own binary: ${binaryB}, ${binaryWorkerB}`);
  assert.ok(!binaryA.startsWith(copy), binaryA);
  assert.deepEqual(result.implementations, ['native', 'native', 'native', 'fallback']);

  const reported = (r) => [r.reports, r.processMetrics > 0];
  assert.deepEqual(result.mainFirst.map(reported), [[true, true], [false, false]], 'copy A registered first; copy B in the same thread must not report too');
  assert.deepEqual(result.workersFirst.map(reported), [[false, false], [false, false]], 'workers on copy B and on the fallback must not report while copy A does');
  assert.deepEqual(reported(result.bAfterA), [true, true], 'copy B takes over when copy A shuts down');
  assert.deepEqual(reported(result.aAgain), [false, false], 'copy A registered again while copy B reports');
  // The first worker asked takes the claim at its collection; the other then finds it held.
  assert.deepEqual(result.workersLater.map(reported), [[true, true], [false, false]]);
});

// A registration shut down while it reported the process metrics hands its
// last reading to its provider's next collection, process-wide part
// included only if no other thread holds them then. Asking must not leave
// the addon holding its copy's claim: the copy's other threads could never
// take the process metrics over again.
test('a last reading after shutdown() while another copy reports the process metrics leaves them free for this copy\'s other threads', { skip: !isNative && 'needs the native addon' }, (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    ${HELPERS}
    const { Worker } = require('node:worker_threads');
    (async () => {
      const a = require('procmeter');
      const b = require(${JSON.stringify(copy)});
      const first = await registerAndCollect(a);
      const second = await registerAndCollect(b);
      first.handle.shutdown(); // a reported; its last reading waits for its provider's next collection
      const takenOver = await second.collectOnce();
      await first.collectOnce(); // the other copy holds them now: left out of the last reading
      second.handle.shutdown(); // nobody holds them
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        ${HELPERS.replace(/`/g, '\\`')}
        registerAndCollect(require('procmeter')).then(({ first, handle }) => { parentPort.postMessage(first); handle.shutdown(); });
      \`, { eval: true });
      const inWorker = await new Promise((resolve) => worker.once('message', resolve));
      await worker.terminate();
      console.log(JSON.stringify({ takenOver: takenOver.reports, inWorker }));
    })();`,
    { type: 'commonjs' },
  ).json();
  assert.equal(result.takenOver, true, JSON.stringify(result));
  assert.deepEqual(result.inWorker, { reports: true, processMetrics: result.inWorker.processMetrics }, JSON.stringify(result));
  assert.ok(result.inWorker.processMetrics > 0, JSON.stringify(result));
});

// Another copy taking a provider over reads anew what the first copy's last
// reading still hands on: that reading must leave those metrics to it, as a
// registration of the same copy would (the semconv event-loop time is one
// both copies count from the same clock).
test('another copy taking over a provider while the first copy\'s last reading is still handed on: exported totals stay at the truth', (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
    class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
    const a = new Reader();
    const b = new Reader();
    const provider = new MeterProvider({ readers: [a, b] });
    const exported = async (reader) => {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'nodejs.eventloop.time');
      const elu = require('node:perf_hooks').performance.eventLoopUtilization();
      return { exported: metric.dataPoints.reduce((total, point) => total + point.value, 0), truth: (elu.active + elu.idle) / 1000 };
    };
    (async () => {
      const first = require('procmeter').registerProcessMetrics({ meterProvider: provider, naming: 'semconv' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const seen = [await exported(a)];
      await new Promise((resolve) => setTimeout(resolve, 300));
      first.shutdown();
      const until = Date.now() + 200;
      while (Date.now() < until);
      const second = require(${JSON.stringify(copy)}).registerProcessMetrics({ meterProvider: provider, naming: 'semconv' });
      seen.push(await exported(b), await exported(a), await exported(b)); // one turn: the first copy's reading still waits
      second.shutdown();
      console.log(JSON.stringify(seen));
    })();`,
    { type: 'commonjs' },
  ).json();
  for (const [i, point] of result.entries()) {
    assert.ok(point.exported <= point.truth + 0.001, `export ${i}: ${point.exported} s of event-loop time exported, ${point.truth} s elapsed: ${JSON.stringify(result)}`);
  }
});

test('native: a worker terminated by a thread that never loaded procmeter gives the process metrics back', { skip: !isNative && 'needs the native addon' }, () => {
  // The main thread registers procmeter without the process group (which
  // makes the shared claim cell, so that workers inherit it) and with it
  // only later. Worker P, with no procmeter, starts worker W, which
  // registers and takes the claim; P terminates W. No JavaScript in P or W
  // can give the claim back: the addon does, as W's environment goes.
  const result = runNode(
    `
    ${HELPERS}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    const procmeter = require('procmeter');
    const { MeterProvider: Provider } = require('@opentelemetry/sdk-metrics');
    const heapOnly = procmeter.registerProcessMetrics({ meterProvider: new Provider(), metricGroups: ['heap'] });
    const W = HELPERS_SOURCE + \`
      registerAndCollect(require('procmeter')).then(({ first }) => require('node:worker_threads').parentPort.postMessage(first));
      setInterval(() => {}, 1000);\`;
    const P = \`
      const { Worker, parentPort } = require('node:worker_threads');
      const w = new Worker(\${JSON.stringify(W)}, { eval: true });
      w.once('message', async (first) => { await w.terminate(); parentPort.postMessage(first); });\`;
    (async () => {
      const p = new Worker(P, { eval: true });
      // P posts and ends at once: its last message and its exit can come in one
      // turn, so listen for 'exit' first.
      const exited = once(p, 'exit');
      const [workerFirst] = await once(p, 'message');
      await exited;
      const main = await registerAndCollect(procmeter);
      main.handle.shutdown();
      heapOnly.shutdown();
      console.log(JSON.stringify({ workerFirst, main: main.first }));
    })();`.replaceAll('HELPERS_SOURCE', JSON.stringify(HELPERS)),
    { type: 'commonjs' },
  ).json();
  assert.equal(result.workerFirst.reports, true, 'the worker took the claim');
  assert.deepEqual([result.main.reports, result.main.processMetrics > 0], [true, true], 'the claim came back when the worker was terminated');
});

for (const implementation of ['native', 'fallback']) {
  test(`${implementation}: procmeter evaluated twice in one thread (require cache cleared): one evaluation reports the process metrics`, { skip: implementation === 'native' && !isNative && 'needs the native addon' }, () => {
    const result = runNode(
      `
      ${HELPERS}
      (async () => {
        const first = require('procmeter');
        // Two registrations, which also load the first evaluation's
        // OpenTelemetry layer before the cache is cleared.
        const a = await registerAndCollect(first);
        const a2 = await registerAndCollect(first);
        // A second evaluation of the same files, as a test runner's fresh
        // module registry or a hot reload makes: it shares the thread's addon.
        for (const file of Object.keys(require.cache)) if (file.includes('/dist/cjs/')) delete require.cache[file];
        const second = require('procmeter');
        const b = await registerAndCollect(second);
        a.handle.shutdown();
        const bWhileA2 = await b.collectOnce();
        const a2Still = await a2.collectOnce();
        a2.handle.shutdown();
        const bAfterA = await b.collectOnce();
        b.handle.shutdown();
        console.log(JSON.stringify({
          distinct: first !== second,
          implementations: [first.implementation, second.implementation],
          a: a.first, a2: a2.first, b: b.first, bWhileA2, a2Still, bAfterA,
        }));
      })();`,
      { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.equal(result.distinct, true, 'two evaluations');
    assert.deepEqual(result.implementations, [implementation, implementation]);
    const reported = (r) => [r.reports, r.processMetrics > 0];
    assert.deepEqual([result.a, result.a2].map(reported), [[true, true], [true, true]], 'one evaluation, two registrations: both report (one SDK each)');
    assert.deepEqual(reported(result.b), [false, false], 'the second evaluation must not report too');
    assert.deepEqual(reported(result.bWhileA2), [false, false], 'the first evaluation still has a registration');
    assert.deepEqual(reported(result.a2Still), [true, true]);
    assert.deepEqual(reported(result.bAfterA), [true, true], 'it takes over when the first evaluation has shut down');
  });
}

for (const implementation of ['native', 'fallback']) {
  test(`${implementation}: after a hot reload, the registrations of both evaluations record every GC pause from their start on, each once`, { skip: implementation === 'native' && !isNative && 'needs the native addon' }, () => {
    const result = runNode(
      `
      const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const registerOn = (procmeter) => {
        const reader = new Reader();
        const handle = procmeter.registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), metricGroups: ['gc'] });
        return { reader, handle };
      };
      const byKind = async (reader, name, value) => {
        const { resourceMetrics } = await reader.collect();
        const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
        return Object.fromEntries((metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []).map((p) => [p.attributes.kind, value(p)]));
      };
      // Per kind: [nodejs_gc_runs, nodejs_gc_duration_seconds count], the
      // count from the next collection, whose histogram has the pauses of
      // the GCs this one counted.
      const runsAndPauses = async ({ reader }) => {
        const runs = await byKind(reader, 'nodejs_gc_runs', (p) => p.value);
        await new Promise((resolve) => setImmediate(resolve));
        const pauses = await byKind(reader, 'nodejs_gc_duration_seconds', (p) => p.value.count);
        // A kind with no pause recorded yet has no histogram point.
        return Object.fromEntries(Object.keys({ ...runs, ...pauses }).map((kind) => [kind, [runs[kind], pauses[kind] ?? 0]]));
      };
      (async () => {
        const first = require('procmeter');
        const a = registerOn(first);
        for (const file of Object.keys(require.cache)) if (file.includes('/dist/cjs/')) delete require.cache[file];
        const second = require('procmeter');
        // GCs before b's registration takes pauses are the first
        // registration's alone (README, "The pause ring"): b's histogram
        // starts there, its runs counter at load. The counts either side of
        // the registration bound that point.
        const byLabel = () => {
          const { gc } = second.collect();
          return { minor: gc.scavenge.count + gc.minorMarkSweep.count, major: gc.markSweepCompact.count, incremental: gc.incrementalMarking.count, weakcb: gc.processWeakCallbacks.count };
        };
        globalThis.gc({ type: 'minor' }); // at least one GC that is a's alone
        // The fallback counts it when its GC entry arrives, a little later.
        for (let waited = 0; byLabel().minor === 0 && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
        const beforeB = byLabel();
        const b = registerOn(second);
        const afterB = byLabel();
        const seen = [];
        const majorGcs = () => second.collect().gc.markSweepCompact.count;
        for (let i = 0; i < 10; i++) {
          const before = majorGcs();
          globalThis.gc();
          // The fallback's GC entries arrive a little later.
          for (let waited = 0; majorGcs() === before && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
          seen.push({ a: await runsAndPauses(a), b: await runsAndPauses(b) });
        }
        a.handle.shutdown();
        b.handle.shutdown();
        console.log(JSON.stringify({ distinct: first !== second, implementation: second.implementation, seen, beforeB, afterB, counted: second.collect().gc.markSweepCompact.count }));
      })();`,
      { type: 'commonjs', nodeArgs: ['--expose-gc'], env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.deepEqual([result.distinct, result.implementation], [true, implementation]);
    // Ground truth for the count: the snapshot's own GC counter (it counts
    // from load; the loop alone made 10 major GCs).
    assert.ok(result.counted >= 10, JSON.stringify(result));
    const [firstSeen] = result.seen;
    for (const [i, { a, b }] of result.seen.entries()) {
      // The first registration takes every pause since load.
      for (const [kind, [runs, pauses]] of Object.entries(a)) {
        assert.equal(pauses, runs, `collection ${i}, registration a, ${kind}: the histogram counted ${pauses} pauses of ${runs} GCs`);
      }
      for (const [kind, [runs, pauses]] of Object.entries(b)) {
        const missedAtLeast = result.beforeB[kind] ?? 0;
        const missedAtMost = result.afterB[kind] ?? 0;
        assert.ok(runs - missedAtMost <= pauses && pauses <= runs - missedAtLeast, `collection ${i}, registration b, ${kind}: ${pauses} pauses of ${runs} GCs, ${missedAtLeast} to ${missedAtMost} of them before b took pauses`);
        // From its first collection on, b records every GC's pause, once.
        const [runsThen, pausesThen] = firstSeen.b[kind] ?? [0, 0];
        assert.equal(pauses - pausesThen, runs - runsThen, `collections 0 to ${i}, registration b, ${kind}: the histogram counted ${pauses - pausesThen} pauses of ${runs - runsThen} GCs`);
      }
    }
    const last = result.seen.at(-1);
    assert.ok(last.a.major[0] >= 10 && last.b.major[0] >= 10, JSON.stringify(last));
  });
}

test('a second copy registering on a MeterProvider where another copy made its instruments reports nothing and warns, in push mode too: no total or GC pause counted twice', { skip: !isNative && 'needs the native addon' }, (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
    class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
    const warnings = [];
    process.on('warning', (warning) => warnings.push(warning.code));
    (async () => {
      const a = require('procmeter');
      const b = require(${JSON.stringify(copy)});
      const reader = new Reader();
      const meterProvider = new MeterProvider({ readers: [reader] });
      const options = { meterProvider, mode: 'push', pushIntervalMs: 0 };
      const handleA = a.registerProcessMetrics(options);
      const handleB = b.registerProcessMetrics(options);
      for (let i = 0; i < 5; i++) globalThis.gc();
      handleA.update();
      handleB.update();
      const { resourceMetrics } = await reader.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const point = (name, kind) => metrics.find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes.kind === kind);
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify({
        warnings,
        reports: [handleA.reportsProcessMetrics, handleB.reportsProcessMetrics],
        exportedMajorGcs: point('nodejs_gc_runs', 'major')?.value,
        histogramMajorGcs: point('nodejs_gc_duration_seconds', 'major')?.value.count,
        majorGcsA: a.collect().gc.markSweepCompact.count,
        majorGcsB: b.collect().gc.markSweepCompact.count,
      }));
      handleA.shutdown();
      handleB.shutdown();
    })();`,
    { type: 'commonjs', nodeArgs: ['--expose-gc'] },
  ).json();
  assert.deepEqual(result.warnings, ['PROCMETER_OTHER_COPY']);
  assert.deepEqual(result.reports, [true, false]);
  assert.ok(result.majorGcsA >= 5, JSON.stringify(result));
  // Each copy counts the GCs since it loaded: the exported total is one
  // copy's (at most the count read after it; twice it without the guard).
  assert.ok(result.exportedMajorGcs >= 5 && result.exportedMajorGcs <= result.majorGcsA, JSON.stringify(result));
  // Push mode: the update() before the export recorded every pause A counted.
  assert.equal(result.histogramMajorGcs, result.exportedMajorGcs, JSON.stringify(result));
});

test("a second copy in push mode on a MeterProvider where another copy registered in observable mode (since shut down) is refused, and the warning says why: the modes differ, not totals added to", { skip: !isNative && 'needs the native addon' }, (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    ${HELPERS}
    const warnings = [];
    process.on('warning', (warning) => warnings.push({ code: warning.code, message: warning.message }));
    (async () => {
      const a = require('procmeter');
      const b = require(${JSON.stringify(copy)});
      const meterProvider = new MeterProvider({ readers: [new Reader()] });
      a.registerProcessMetrics({ meterProvider }).shutdown(); // its instruments stay in the SDK
      const handleB = b.registerProcessMetrics({ meterProvider, mode: 'push', pushIntervalMs: 0 });
      handleB.update();
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify({ warnings, reports: handleB.reportsProcessMetrics }));
      handleB.shutdown();
    })();`,
    { type: 'commonjs' },
  ).json();
  assert.deepEqual(result.warnings.map((w) => w.code), ['PROCMETER_OTHER_COPY']);
  const [{ message }] = result.warnings;
  assert.match(message, /in 'observable' mode/, message);
  assert.doesNotMatch(message, /totals the SDK keeps adding to/, message);
  assert.equal(result.reports, false);
});

test('after the first copy shuts down, a second copy takes over a MeterProvider in observable mode, but not where push mode was used', { skip: !isNative && 'needs the native addon' }, (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    ${HELPERS}
    const warnings = [];
    process.on('warning', (warning) => warnings.push(warning.code));
    (async () => {
      const a = require('procmeter');
      const b = require(${JSON.stringify(copy)});
      const reader = new Reader();
      const meterProvider = new MeterProvider({ readers: [reader] });
      const handleA = a.registerProcessMetrics({ meterProvider });
      await reader.collect();
      handleA.shutdown();
      const handleB = b.registerProcessMetrics({ meterProvider });
      await reader.collect();
      const pushProvider = new MeterProvider();
      const pushA = a.registerProcessMetrics({ meterProvider: pushProvider, mode: 'push', pushIntervalMs: 0 });
      pushA.update();
      pushA.shutdown();
      const pushB = b.registerProcessMetrics({ meterProvider: pushProvider, mode: 'push', pushIntervalMs: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify({ warnings, observableTakesOver: handleB.reportsProcessMetrics, pushTakesOver: pushB.reportsProcessMetrics }));
      handleB.shutdown();
      pushB.shutdown();
    })();`,
    { type: 'commonjs' },
  ).json();
  // The observable takeover leaves out the GC metrics, which a counted (see the next test).
  assert.deepEqual(result, { warnings: ['PROCMETER_OTHER_COPY_GC', 'PROCMETER_OTHER_COPY'], observableTakesOver: true, pushTakesOver: false });
});

test("a second copy taking over in observable mode leaves the GC metrics out: its GC counts start at its own load, and the exported totals never go back", { skip: !isNative && 'needs the native addon' }, (t) => {
  const copy = secondCopy(t);
  const result = runNode(
    `
    ${HELPERS}
    const warnings = [];
    process.on('warning', (warning) => warnings.push(warning.code));
    (async () => {
      const a = require('procmeter');
      const reader = new Reader();
      const meterProvider = new MeterProvider({ readers: [reader] });
      const collected = async () => {
        const { resourceMetrics } = await reader.collect();
        return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      };
      const major = (metrics, name) => metrics.find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes.kind === 'major');
      // The runs one collection reports, and the pauses in the next one's
      // histogram (the pauses of the GCs a collection counts are recorded
      // just after it); the runs that one reports too.
      const read = async () => {
        const first = await collected();
        await new Promise((resolve) => setImmediate(resolve));
        const next = await collected();
        return {
          runs: major(first, 'nodejs_gc_runs')?.value ?? null,
          pauses: major(next, 'nodejs_gc_duration_seconds')?.value.count ?? null,
          runsNext: major(next, 'nodejs_gc_runs')?.value ?? null,
          cpu: first.some((m) => m.descriptor.name === 'process_cpu_seconds'),
        };
      };
      const handleA = a.registerProcessMetrics({ meterProvider });
      for (let i = 0; i < 5; i++) globalThis.gc();
      const byA = await read();
      handleA.shutdown();
      const b = require(${JSON.stringify(copy)}); // loaded later: it counts from here
      const handleB = b.registerProcessMetrics({ meterProvider });
      globalThis.gc();
      const byB = await read();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
      console.log(JSON.stringify({ warnings, byA, byB, reports: handleB.reportsProcessMetrics, majorGcsB: b.collect().gc.markSweepCompact.count }));
      handleB.shutdown();
    })();`,
    { type: 'commonjs', nodeArgs: ['--expose-gc'] },
  ).json();
  const detail = JSON.stringify(result);
  assert.deepEqual(result.warnings, ['PROCMETER_OTHER_COPY_GC'], detail);
  assert.ok(result.byA.runs >= 5 && result.byA.pauses === result.byA.runs, detail);
  // (b may count its GCs through a PerformanceObserver, which reports the
  // last one on a later tick: at least 0, then.)
  assert.ok(result.majorGcsB < result.byA.runs, `the premise: b counts fewer GCs than a exported: ${detail}`);
  // The SDK may keep exporting a's last GC values (those of a's last
  // collection, and the pauses it counted) or drop them; never b's.
  if (result.byB.runs !== null) assert.deepEqual([result.byB.runs, result.byB.pauses], [result.byA.runsNext, result.byA.runsNext], detail);
  assert.equal(result.reports, true, 'b reports the process metrics');
  assert.equal(result.byB.cpu, true, detail);
});

for (const implementation of ['native', 'fallback']) {
  test(`${implementation}: procmeter evaluated again after a hot reload registers on the same MeterProvider as one evaluation: push-mode totals are added once`, { skip: implementation === 'native' && !isNative && 'needs the native addon' }, () => {
    const result = runNode(
      `
      const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const warnings = [];
      process.on('warning', (warning) => warnings.push(warning.code));
      const reload = () => {
        for (const file of Object.keys(require.cache)) if (file.includes('/dist/cjs/')) delete require.cache[file];
        return require('procmeter');
      };
      (async () => {
        const reader = new Reader();
        const options = { meterProvider: new MeterProvider({ readers: [reader] }), mode: 'push', pushIntervalMs: 0 };
        const first = require('procmeter');
        const h1 = first.registerProcessMetrics(options);
        h1.update();
        const second = reload(); // while the first evaluation's registration runs
        const h2 = second.registerProcessMetrics(options);
        // The fallback's observer counts a GC once the event loop has turned.
        const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
        for (let i = 0; i < 5; i++) globalThis.gc();
        await settle();
        h1.update();
        h2.update();
        h1.shutdown();
        h2.shutdown();
        const third = reload(); // after every registration ended
        const h3 = third.registerProcessMetrics(options);
        globalThis.gc();
        await settle();
        h3.update();
        const { resourceMetrics } = await reader.collect();
        const runs = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'nodejs_gc_runs');
        const exported = runs?.dataPoints.find((p) => p.attributes.kind === 'major')?.value;
        await new Promise((resolve) => setImmediate(resolve));
        console.log(JSON.stringify({
          distinct: new Set([first, second, third]).size,
          implementation: third.implementation,
          warnings,
          reports: [h3.reportsProcessMetrics],
          exported,
          counted: third.collect().gc.markSweepCompact.count,
        }));
        h3.shutdown();
      })();`,
      { type: 'commonjs', nodeArgs: ['--expose-gc'], env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.equal(result.distinct, 3, 'three evaluations');
    assert.equal(result.implementation, implementation);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.reports, [true]);
    // Every major GC (the 6 forced ones), added once: twice would be 12.
    assert.ok(result.counted >= 6, JSON.stringify(result));
    assert.equal(result.exported, result.counted, JSON.stringify(result));
  });
}

test('evaluated again on the fallback after the native addon (the environment changed in between), push mode goes on recording GC pauses: counts that started again do not hold them back for good', { skip: !isNative && 'needs the native addon' }, () => {
  const result = runNode(
    `
    const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
    class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
    const churn = () => { for (let r = 0; r < 4; r++) { const a = []; for (let i = 0; i < 200_000; i++) a.push({ i }); } };
    (async () => {
      const reader = new Reader();
      const meterProvider = new MeterProvider({ readers: [reader] });
      const pauses = async () => {
        const { resourceMetrics } = await reader.collect();
        const histogram = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'nodejs_gc_duration_seconds');
        return (histogram?.dataPoints ?? []).reduce((total, point) => total + point.value.count, 0);
      };
      const options = { meterProvider, mode: 'push', pushIntervalMs: 0, metricGroups: ['gc'] };
      let procmeter = require('procmeter');
      let handle = procmeter.registerProcessMetrics(options);
      for (let i = 0; i < 5; i++) { churn(); handle.update(); }
      const implementations = [procmeter.gcImplementation];
      handle.shutdown();
      const atSwitch = await pauses();
      for (const file of Object.keys(require.cache)) if (file.includes('/dist/cjs/')) delete require.cache[file];
      process.env.PROCMETER_FORCE_FALLBACK = '1';
      procmeter = require('procmeter');
      implementations.push(procmeter.gcImplementation);
      handle = procmeter.registerProcessMetrics(options);
      for (let i = 0; i < 5; i++) {
        churn();
        await new Promise((resolve) => setTimeout(resolve, 20)); // the observer's entries arrive
        handle.update();
      }
      const gcsSinceSwitch = Object.values(procmeter.collect().gc).reduce((total, kind) => total + kind.count, 0);
      const atEnd = await pauses();
      handle.shutdown();
      console.log(JSON.stringify({ implementations, atSwitch, atEnd, gcsSinceSwitch }));
    })();`,
    { type: 'commonjs' },
  ).json();
  const detail = JSON.stringify(result);
  assert.deepEqual(result.implementations, ['native', 'fallback']);
  assert.ok(result.atSwitch > 0 && result.gcsSinceSwitch > 0, detail);
  // The fallback counts from its own start, below what was handed on before.
  const recorded = result.atEnd - result.atSwitch;
  assert.ok(recorded > 0 && recorded <= result.gcsSinceSwitch, `pauses recorded since the switch: ${detail}`);
});

test('both namings registered on one MeterProvider warn that two of their names collide in Prometheus', () => {
  const result = runNode(
    `
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    const warnings = [];
    process.on('warning', (warning) => warnings.push(warning.code));
    const { registerProcessMetrics } = require('procmeter');
    const meterProvider = new MeterProvider();
    const prometheus = registerProcessMetrics({ meterProvider, naming: 'prometheus' });
    const alone = registerProcessMetrics({ meterProvider: new MeterProvider(), naming: 'semconv' });
    const semconv = registerProcessMetrics({ meterProvider, naming: 'semconv' });
    setImmediate(() => {
      console.log(JSON.stringify({ warnings }));
      for (const handle of [prometheus, alone, semconv]) handle.shutdown();
    });`,
    { type: 'commonjs' },
  ).json();
  assert.deepEqual(result.warnings, ['PROCMETER_NAMINGS_COLLIDE']);
});
