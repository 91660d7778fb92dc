// procmeter in worker threads: per-isolate GC counts, and no crash or leak
// when workers come and go.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runNode } from '../helpers/child.mjs';

const STRESS_SECONDS = Number(process.env.PROCMETER_STRESS_SECONDS ?? 30);

test('each worker sees its own GC counts', () => {
  const result = runNode(
    `
    import { Worker } from 'node:worker_threads';
    import { once } from 'node:events';
    import { collect } from 'procmeter';
    const WORKER = \`
      const { parentPort, workerData } = require('node:worker_threads');
      const { collect } = require('procmeter');
      const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
      parentPort.once('message', async () => {
        await settle();
        const before = collect().gc.markSweepCompact.count;
        for (let i = 0; i < workerData.gcs; i++) globalThis.gc();
        await settle();
        parentPort.postMessage(collect().gc.markSweepCompact.count - before);
      });
      parentPort.postMessage('ready');
    \`;
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
    const start = (gcs) => new Worker(WORKER, { eval: true, workerData: { gcs }, execArgv: [] });
    const busy = start(7);
    const idle = start(0);
    await Promise.all([once(busy, 'message'), once(idle, 'message')]);
    await settle();
    const mainBefore = collect().gc.markSweepCompact.count;
    busy.postMessage('go');
    idle.postMessage('go');
    const [[busyCount], [idleCount]] = await Promise.all([once(busy, 'message'), once(idle, 'message')]);
    await settle();
    const mainCount = collect().gc.markSweepCompact.count - mainBefore;
    await Promise.all([busy.terminate(), idle.terminate()]);
    console.log(JSON.stringify({ busyCount, idleCount, mainCount }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  assert.deepEqual(result, { busyCount: 7, idleCount: 0, mainCount: 0 });
});

// Half the workers are terminated 5-50 ms after they come online (most of
// them while procmeter loads: a worker's first lines take longer than that
// on a busy machine), half 5-50 ms after they report procmeter running
// (collecting and draining in a loop).
test(`16 workers loading procmeter, terminated at random while it loads or runs, for ${STRESS_SECONDS} s: the process exits cleanly`, { timeout: (STRESS_SECONDS + 60) * 1000 }, (t) => {
  const child = runNode(
    `
    import { Worker } from 'node:worker_threads';
    const WORKER = \`
      const { collect, drainGcPauses } = require('procmeter');
      const out = new Float64Array(64);
      const snapshot = collect();
      drainGcPauses(out);
      require('node:worker_threads').parentPort.postMessage('running');
      const keep = [];
      for (;;) {
        for (let i = 0; i < 2000; i++) keep.push({ i, text: 'x' + i });
        if (keep.length > 200000) keep.length = 0;
        collect(snapshot);
        drainGcPauses(out);
      }
    \`;
    const deadline = Date.now() + ${STRESS_SECONDS} * 1000;
    let started = 0;
    let exited = 0;
    let terminatedRunning = 0;
    function spawnOne() {
      if (Date.now() > deadline) return;
      started++;
      const worker = new Worker(WORKER, { eval: true, execArgv: [] });
      const terminateSoon = () => setTimeout(() => worker.terminate(), 5 + Math.random() * 45);
      if (started % 2 === 0) worker.once('online', terminateSoon);
      else worker.once('message', () => { terminatedRunning++; terminateSoon(); });
      worker.on('error', (error) => { console.error('worker error', error); process.exitCode = 2; });
      worker.on('exit', () => { exited++; spawnOne(); });
    }
    for (let i = 0; i < 16; i++) spawnOne();
    process.on('exit', () => console.log(JSON.stringify({ started, exited, terminatedRunning })));`,
    { timeout: (STRESS_SECONDS + 50) * 1000 },
  );
  assert.equal(child.signal, null, `killed by ${child.signal}: ${child.stderr.slice(-2000)}`);
  assert.equal(child.status, 0, child.stderr.slice(-2000));
  const { started, exited, terminatedRunning } = JSON.parse(child.stdout.trim().split('\n').at(-1));
  t.diagnostic(`${started} workers started and terminated, ${terminatedRunning} of them with procmeter running`);
  assert.equal(exited, started);
  // Every other worker ran procmeter before its end (none failed to).
  assert.equal(terminatedRunning, Math.ceil(started / 2));
  assert.ok(terminatedRunning >= 16, `only ${terminatedRunning} workers ran procmeter`);
});

// One child process: 100 warm-up cycles, then 1,000 measured ones, each
// starting a worker that loads procmeter (or, for the control, does not)
// and terminating it once it has reported in.
const cycles = (loadProcmeter) => `
  import { Worker } from 'node:worker_threads';
  import { once } from 'node:events';
  import { readFileSync, readdirSync } from 'node:fs';
  const WORKER = ${loadProcmeter}
    ? "const { collect } = require('procmeter'); collect(); require('node:worker_threads').parentPort.postMessage('loaded'); setInterval(() => collect(), 1);"
    : "require('node:worker_threads').parentPort.postMessage('loaded'); setInterval(() => {}, 1);";
  async function cycle() {
    const worker = new Worker(WORKER, { eval: true, execArgv: [] });
    await once(worker, 'message');
    await worker.terminate();
  }
  const rss = () => { globalThis.gc(); return Number(/^VmRSS:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024; };
  const fds = () => readdirSync('/proc/self/fd').length;
  // The first worker cycles grow glibc's malloc arenas and Node's caches
  // whether or not procmeter is loaded: measure from after 100.
  for (let i = 0; i < 100; i++) await cycle();
  const start = rss();
  const startFds = fds();
  for (let i = 0; i < 1000; i++) await cycle();
  console.log(JSON.stringify({ start, end: rss(), fdsLeft: fds() - startFds }));
`;

test('1,000 worker create/terminate cycles leave RSS within 20 MB of where it started, and no fds behind', { timeout: 300_000 }, (t) => {
  const run = (loadProcmeter) => runNode(cycles(loadProcmeter), { nodeArgs: ['--expose-gc'], timeout: 280_000 }).json();
  const mib = (bytes) => bytes / 1024 / 1024;
  const result = run(true);
  const grown = mib(result.end - result.start);
  t.diagnostic(`with procmeter: RSS ${mib(result.start).toFixed(1)} -> ${mib(result.end).toFixed(1)} MiB (+${grown.toFixed(1)})`);
  // Each worker's native sampler keeps three fds; they must all be closed.
  assert.equal(result.fdsLeft, 0, `${result.fdsLeft} fds left open after 1,000 workers`);
  if (grown < 20) return;
  // Node itself can grow this much (Node 24 was seen at +16 to +33 MiB over
  // 1,000-4,000 cycles without procmeter). Then the measure of a leak is the
  // difference to the same cycles without procmeter, in the same run.
  const control = run(false);
  const controlGrown = mib(control.end - control.start);
  t.diagnostic(`without procmeter (control): +${controlGrown.toFixed(1)} MiB`);
  assert.ok(grown - controlGrown < 5, `RSS grew ${grown.toFixed(1)} MiB with procmeter, ${controlGrown.toFixed(1)} MiB without`);
});
