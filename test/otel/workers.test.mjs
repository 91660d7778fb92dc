// Worker threads: process-wide metrics once per process; per-isolate metrics
// with the thread id.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runNode } from '../helpers/child.mjs';

// Registers procmeter with a fresh MeterProvider in the thread it runs in and
// reports what one collection held.
const REGISTER_AND_COLLECT = `
  const { registerProcessMetrics } = require('procmeter');
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  const { threadId } = require('node:worker_threads');
  class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
  async function registerAndCollect(mode = 'observable', options = {}) {
    const reader = new Reader();
    const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), mode, pushIntervalMs: 0, ...options });
    const collectOnce = async () => {
      handle.update(); // push mode; nothing in observable mode
      const { resourceMetrics } = await reader.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const threadIdsOf = (name) => [...new Set(metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints.map((p) => p.attributes['thread.id'])))];
      const threadIds = threadIdsOf('nodejs_heap_size_used_bytes');
      return {
        threadId,
        reportsProcess: handle.reportsProcessMetrics,
        processNames: metrics.map((m) => m.descriptor.name).filter((n) => n.startsWith('process_')).length,
        heapThreadIds: threadIds,
        versionThreadIds: threadIdsOf('nodejs_version_info'),
      };
    };
    return { handle, collectOnce, ...(await collectOnce()) };
  }
`;

test('registered in the main thread and two workers: process metrics come from one thread, per-isolate ones carry thread.id', () => {
  const result = runNode(
    `
    ${REGISTER_AND_COLLECT}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    (async () => {
      const main = await registerAndCollect();
      const workers = [1, 2].map(() => new Worker(REGISTER_AND_COLLECT.toString() + \`
        registerAndCollect().then(({ handle, collectOnce, ...report }) => { require('node:worker_threads').parentPort.postMessage(report); handle.shutdown(); });\`, { eval: true }));
      // Listen before awaiting anything: a worker may report and exit early.
      const messages = workers.map((w) => once(w, 'message'));
      const exits = workers.map((w) => once(w, 'exit'));
      const reports = (await Promise.all(messages)).map(([report]) => report);
      await Promise.all(exits);
      main.handle.shutdown();
      delete main.handle;
      delete main.collectOnce;
      console.log(JSON.stringify([main, ...reports]));
    })();`.replace('REGISTER_AND_COLLECT.toString()', JSON.stringify(REGISTER_AND_COLLECT)),
    { type: 'commonjs' },
  ).json();
  const [main, ...workers] = result;
  assert.equal(main.reportsProcess, true, 'the main thread registered first');
  assert.ok(main.processNames >= 13, `main thread reported ${main.processNames} process metrics`);
  assert.deepEqual(main.heapThreadIds, [null], 'no thread.id on the main thread'); // [undefined] in JSON
  assert.deepEqual(main.versionThreadIds, [null]);
  for (const worker of workers) {
    assert.equal(worker.reportsProcess, false);
    assert.equal(worker.processNames, 0, `worker ${worker.threadId} reported process metrics too`);
    assert.deepEqual(worker.heapThreadIds, [worker.threadId]);
    // Per isolate, as the naming contract lists it.
    assert.deepEqual(worker.versionThreadIds, [worker.threadId]);
  }
});

for (const [mode, implementation] of [
  ['observable', 'native'],
  ['push', 'native'],
  ['observable', 'fallback'],
  ['push', 'fallback'],
]) {
  test(`${mode} mode, ${implementation}: when the thread holding the claim is terminated, a registration already running takes the process metrics over`, () => {
    const result = runNode(
      `
      ${REGISTER_AND_COLLECT}
      const { Worker } = require('node:worker_threads');
      const { once } = require('node:events');
      (async () => {
        // A worker registers first and keeps running; the main thread
        // registers next; then the worker is terminated without shutdown().
        const worker = new Worker(REGISTER_AND_COLLECT_SOURCE + \`
          registerAndCollect(MODE).then(({ handle, collectOnce, ...report }) => require('node:worker_threads').parentPort.postMessage(report));
          setInterval(() => {}, 1000);\`, { eval: true });
        const [first] = await once(worker, 'message');
        const main = await registerAndCollect(MODE);
        const whileHeld = { reportsProcess: main.reportsProcess, processNames: main.processNames };
        await worker.terminate();
        const afterwards = await main.collectOnce();
        main.handle.shutdown();
        const later = await registerAndCollect(MODE);
        later.handle.shutdown();
        console.log(JSON.stringify({
          implementation: require('procmeter').implementation,
          worker: [first.reportsProcess, first.processNames > 0],
          whileHeld: [whileHeld.reportsProcess, whileHeld.processNames > 0],
          afterwards: [afterwards.reportsProcess, afterwards.processNames > 0],
          later: [later.reportsProcess, later.processNames > 0],
        }));
      })();`
        .replace('REGISTER_AND_COLLECT_SOURCE', JSON.stringify(REGISTER_AND_COLLECT))
        .replaceAll('MODE', JSON.stringify(mode)),
      { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.deepEqual(result, { implementation, worker: [true, true], whileHeld: [false, false], afterwards: [true, true], later: [true, true] });
  });
}

for (const implementation of ['native', 'fallback']) {
  test(`${implementation}: a registration that fails while its instruments are made (the application's MeterProvider throws) gives the process-metrics claim back`, () => {
    const result = runNode(
      `
      ${REGISTER_AND_COLLECT}
      const { Worker } = require('node:worker_threads');
      const { once } = require('node:events');
      (async () => {
        const real = new MeterProvider(); // the SDK's, from REGISTER_AND_COLLECT
        const broken = {
          getMeter: (...args) => new Proxy(real.getMeter(...args), {
            get: (target, property) => property === 'createObservableGauge'
              ? () => { throw new Error('no gauges today'); }
              : Reflect.get(target, property).bind(target),
          }),
        };
        let failed;
        try {
          registerProcessMetrics({ meterProvider: broken });
        } catch (error) {
          failed = error.message;
        }
        const main = await registerAndCollect();
        main.handle.shutdown();
        // The main thread holds no registration now: a worker's takes the process metrics.
        const worker = new Worker(REGISTER_AND_COLLECT_SOURCE + \`
          registerAndCollect().then(({ handle, collectOnce, ...report }) => { require('node:worker_threads').parentPort.postMessage(report); handle.shutdown(); });\`, { eval: true });
        const exited = once(worker, 'exit'); // before the message: both can come in one turn
        const [report] = await once(worker, 'message');
        await exited;
        console.log(JSON.stringify({
          implementation: require('procmeter').implementation,
          failed,
          main: main.reportsProcess,
          worker: [report.reportsProcess, report.processNames > 0],
        }));
      })();`.replace('REGISTER_AND_COLLECT_SOURCE', JSON.stringify(REGISTER_AND_COLLECT)),
      { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.deepEqual(result, { implementation, failed: 'no gauges today', main: true, worker: [true, true] });
  });
}

test('a worker registered without the process group, or on a provider that never exports (observable or push mode), leaves the process metrics to a thread that reports them', () => {
  const result = runNode(
    `
    ${REGISTER_AND_COLLECT}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    (async () => {
      // Both workers register before the main thread does, and keep running.
      const heapOnly = new Worker(REGISTER_AND_COLLECT_SOURCE + \`
        registerAndCollect('observable', { metricGroups: ['gc', 'heap'] }).then(({ handle, collectOnce, ...report }) => require('node:worker_threads').parentPort.postMessage(report));
        setInterval(() => {}, 1000);\`, { eval: true });
      // No SDK in this worker: the API's global provider is a no-op one, whose callbacks never run.
      const noSdk = new Worker(\`
        require('procmeter').registerProcessMetrics();
        require('node:worker_threads').parentPort.postMessage('registered');
        setInterval(() => {}, 1000);\`, { eval: true });
      // The same in push mode, whose updates (called, and by its timer) run whether or not anything exports.
      const noSdkPush = new Worker(\`
        const handle = require('procmeter').registerProcessMetrics({ mode: 'push', pushIntervalMs: 10 });
        handle.update();
        setTimeout(() => require('node:worker_threads').parentPort.postMessage(handle.reportsProcessMetrics), 50);
        setInterval(() => {}, 1000);\`, { eval: true });
      const [[heapOnlyReport], , [noSdkPushReports]] = await Promise.all([once(heapOnly, 'message'), once(noSdk, 'message'), once(noSdkPush, 'message')]);
      const main = await registerAndCollect();
      main.handle.shutdown();
      await Promise.all([heapOnly.terminate(), noSdk.terminate(), noSdkPush.terminate()]);
      console.log(JSON.stringify({
        heapOnly: [heapOnlyReport.reportsProcess, heapOnlyReport.processNames],
        noSdkPush: noSdkPushReports,
        main: [main.reportsProcess, main.processNames >= 13],
      }));
    })();`.replace('REGISTER_AND_COLLECT_SOURCE', JSON.stringify(REGISTER_AND_COLLECT)),
    { type: 'commonjs' },
  ).json();
  assert.deepEqual(result, { heapOnly: [false, 0], noSdkPush: false, main: [true, true] });
});

// A registration is in the running for the claim from its first collection
// or update: one in the same thread that never collects must not keep it
// for the thread after the one that did is shut down.
test('a registration in the same thread whose collections never come does not keep the claim after the one that reported shuts down: a worker takes it', () => {
  const result = runNode(
    `
    ${REGISTER_AND_COLLECT}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    (async () => {
      const reporting = await registerAndCollect('push', { metricGroups: ['process'] });
      // On a provider whose reader never collects: registered, never read.
      class Idle extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const idle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [new Idle()] }), metricGroups: ['process'] });
      reporting.handle.shutdown();
      const worker = new Worker(REGISTER_AND_COLLECT_SOURCE + \`
        registerAndCollect('observable', { metricGroups: ['process'] }).then(({ handle, collectOnce, ...report }) => require('node:worker_threads').parentPort.postMessage(report));\`, { eval: true });
      const [workerReport] = await once(worker, 'message');
      await worker.terminate();
      idle.shutdown();
      console.log(JSON.stringify({ main: reporting.reportsProcess, worker: [workerReport.reportsProcess, workerReport.processNames > 0] }));
    })();`.replace('REGISTER_AND_COLLECT_SOURCE', JSON.stringify(REGISTER_AND_COLLECT)),
    { type: 'commonjs' },
  ).json();
  assert.deepEqual(result, { main: true, worker: [true, true] });
});

test('JavaScript fallback: a worker started after procmeter loaded shares the claim even when it registers before its parent', () => {
  const result = runNode(
    `
    ${REGISTER_AND_COLLECT}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    (async () => {
      // procmeter is loaded (above), its OpenTelemetry layer not yet.
      const worker = new Worker(REGISTER_AND_COLLECT_SOURCE + \`
        registerAndCollect().then(({ handle, collectOnce, ...report }) => require('node:worker_threads').parentPort.postMessage(report));
        setInterval(() => {}, 1000);\`, { eval: true });
      const [first] = await once(worker, 'message');
      const main = await registerAndCollect();
      main.handle.shutdown();
      await worker.terminate();
      console.log(JSON.stringify({
        implementation: require('procmeter').implementation,
        worker: [first.reportsProcess, first.processNames > 0],
        main: [main.reportsProcess, main.processNames > 0],
      }));
    })();`.replace('REGISTER_AND_COLLECT_SOURCE', JSON.stringify(REGISTER_AND_COLLECT)),
    { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: '1' } },
  ).json();
  assert.deepEqual(result, { implementation: 'fallback', worker: [true, true], main: [false, false] });
});

// A restart alert (changes(process_start_time_seconds[1h]) > 0) fires on any
// difference, so the start time must be the same number whichever thread
// reports the process metrics; each thread's own reading can differ in its
// last bits (the boot instant comes from clocks read at different moments).
test('process_start_time_seconds is the same number, to the bit, whichever thread reports the process metrics', () => {
  const result = runNode(
    `
    const { Worker } = require('node:worker_threads');
    const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
    const { registerProcessMetrics } = require('procmeter');
    const code = \`
      const { parentPort } = require('node:worker_threads');
      const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
      const { registerProcessMetrics } = require('procmeter');
      \${startTimeReported.toString()}
      startTimeReported(registerProcessMetrics, MeterProvider, MetricReader).then((reported) => parentPort.postMessage(reported));\`;
    async function startTimeReported(registerProcessMetrics, MeterProvider, MetricReader) {
      class Reader extends MetricReader { onShutdown() { return Promise.resolve(); } onForceFlush() { return Promise.resolve(); } }
      const reader = new Reader();
      const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), metricGroups: ['process'] });
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'process_start_time_seconds');
      const reports = handle.reportsProcessMetrics;
      handle.shutdown(); // the next thread takes the process metrics over
      return { reports, value: metric?.dataPoints[0].value };
    }
    (async () => {
      const reported = [await startTimeReported(registerProcessMetrics, MeterProvider, MetricReader)];
      for (let i = 0; i < 16; i++) {
        const worker = new Worker(code, { eval: true });
        const exited = require('node:events').once(worker, 'exit'); // before the message: both can come in one turn
        const [message] = await require('node:events').once(worker, 'message');
        reported.push(message);
        await exited;
      }
      console.log(JSON.stringify(reported));
    })();`,
    { type: 'commonjs' },
  ).json();
  assert.ok(result.every((r) => r.reports && typeof r.value === 'number'), JSON.stringify(result));
  assert.deepEqual(new Set(result.map((r) => r.value)).size, 1, JSON.stringify(result.map((r) => r.value)));
});
