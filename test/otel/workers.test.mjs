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
  async function registerAndCollect() {
    const reader = new Reader();
    const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }) });
    const { resourceMetrics } = await reader.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const threadIds = new Set(metrics.filter((m) => m.descriptor.name === 'nodejs_heap_size_used_bytes').flatMap((m) => m.dataPoints.map((p) => p.attributes['thread.id'])));
    return {
      threadId,
      handle,
      reportsProcess: handle.reportsProcessMetrics,
      processNames: metrics.map((m) => m.descriptor.name).filter((n) => n.startsWith('process_')).length,
      heapThreadIds: [...threadIds],
    };
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
        registerAndCollect().then(({ handle, ...report }) => { require('node:worker_threads').parentPort.postMessage(report); handle.shutdown(); });\`, { eval: true }));
      // Listen before awaiting anything: a worker may report and exit early.
      const messages = workers.map((w) => once(w, 'message'));
      const exits = workers.map((w) => once(w, 'exit'));
      const reports = (await Promise.all(messages)).map(([report]) => report);
      await Promise.all(exits);
      main.handle.shutdown();
      delete main.handle;
      console.log(JSON.stringify([main, ...reports]));
    })();`.replace('REGISTER_AND_COLLECT.toString()', JSON.stringify(REGISTER_AND_COLLECT)),
    { type: 'commonjs' },
  ).json();
  const [main, ...workers] = result;
  assert.equal(main.reportsProcess, true, 'the main thread registered first');
  assert.ok(main.processNames >= 13, `main thread reported ${main.processNames} process metrics`);
  assert.deepEqual(main.heapThreadIds, [null], 'no thread.id on the main thread'); // [undefined] in JSON
  for (const worker of workers) {
    assert.equal(worker.reportsProcess, false);
    assert.equal(worker.processNames, 0, `worker ${worker.threadId} reported process metrics too`);
    assert.deepEqual(worker.heapThreadIds, [worker.threadId]);
  }
});

test('the claim passes on when the thread holding it is terminated', () => {
  const result = runNode(
    `
    ${REGISTER_AND_COLLECT}
    const { Worker } = require('node:worker_threads');
    const { once } = require('node:events');
    (async () => {
      // A worker registers first and keeps running; then it is terminated
      // without calling shutdown().
      const worker = new Worker(REGISTER_AND_COLLECT_SOURCE + \`
        registerAndCollect().then(({ handle, ...report }) => require('node:worker_threads').parentPort.postMessage(report));
        setInterval(() => {}, 1000);\`, { eval: true });
      const [first] = await once(worker, 'message');
      const whileHeld = await registerAndCollect();
      whileHeld.handle.shutdown();
      await worker.terminate();
      const afterwards = await registerAndCollect();
      afterwards.handle.shutdown();
      console.log(JSON.stringify({ worker: first.reportsProcess, whileHeld: whileHeld.reportsProcess, afterwards: afterwards.reportsProcess }));
    })();`.replace('REGISTER_AND_COLLECT_SOURCE', JSON.stringify(REGISTER_AND_COLLECT)),
    { type: 'commonjs' },
  ).json();
  assert.deepEqual(result, { worker: true, whileHeld: false, afterwards: true });
});
