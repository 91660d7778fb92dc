// Thread counting follows worker threads as they start and stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

import procmeter from '../helpers/procmeter.mjs';
import { statusField } from '../helpers/ground-truth.mjs';
import { assertBracketedEqual } from '../helpers/assertions.mjs';

const { collect } = procmeter;

test('threads follows starting and terminating worker threads', async () => {
  const baseline = assertBracketedEqual(() => statusField('Threads'), () => collect().threads, 'threads before');
  const workers = [];
  for (let i = 0; i < 4; i++) {
    const worker = new Worker('require("node:worker_threads").parentPort.postMessage("ready"); setInterval(() => {}, 1000);', { eval: true });
    workers.push(worker);
    await once(worker, 'message');
  }
  const withWorkers = assertBracketedEqual(() => statusField('Threads'), () => collect().threads, 'threads with 4 workers');
  assert.ok(withWorkers >= baseline + 4, `4 workers took threads ${baseline} -> ${withWorkers}`);
  await Promise.all(workers.map((worker) => worker.terminate()));
  const after = assertBracketedEqual(() => statusField('Threads'), () => collect().threads, 'threads after');
  assert.ok(after < withWorkers, `threads did not drop after terminating: ${withWorkers} -> ${after}`);
});

test('a worker thread that loads procmeter reads the same process', async () => {
  // The main thread burns CPU first; the worker, which burns almost none,
  // must see it: its CPU fields are the process's, not its thread's.
  const spin = process.cpuUsage();
  while (process.cpuUsage(spin).user < 300_000);
  const mainCpu = process.cpuUsage();
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const procmeter = require('procmeter');
     parentPort.postMessage({ implementation: procmeter.implementation, snapshot: procmeter.collect() });`,
    { eval: true },
  );
  // Listen for 'exit' before the message arrives: a worker that posts and ends
  // can have its last message and its exit handled in one turn.
  const exited = once(worker, 'exit');
  const [message] = await once(worker, 'message');
  await exited;
  const here = collect();
  assert.equal(message.implementation, procmeter.implementation);
  // Each thread computes the start time once, from 10 ms clock ticks.
  assert.ok(Math.abs(message.snapshot.startTimeSeconds - here.startTimeSeconds) <= 0.02, 'same start time');
  assert.equal(message.snapshot.maxFds, here.maxFds);
  assert.ok(message.snapshot.cpuUserSeconds >= mainCpu.user / 1e6 - 0.01, `worker read ${message.snapshot.cpuUserSeconds} s of user CPU; the process had used ${mainCpu.user / 1e6} s`);
  assert.ok(message.snapshot.cpuUserSeconds <= here.cpuUserSeconds, 'CPU time only grows');
});
