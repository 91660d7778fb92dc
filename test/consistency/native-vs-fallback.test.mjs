// The native addon and the JavaScript fallback read the same process the same
// way: compared side by side in one process, over a grid of process states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

import { busyLoop } from '../helpers/assertions.mjs';

const require = createRequire(import.meta.url);
const native = require('../../build/Release/procmeter_core.node');
const { FallbackProcessSampler } = require('../../dist/cjs/fallback/index.js');
const { layout } = require('procmeter')._internals;

const { SLOT_COUNT } = layout;
// Process fields only: the runtime fields are compared in test/runtime.
const SLOTS = layout.SLOTS.filter((slot) => slot.scope === 'process');

// Exact fields that move on their own while the test runs.
const MAPPING_SLOTS = ['virtualMemoryBytes', 'dataBytes'].map((field) => SLOTS.find((slot) => slot.field === field).index);
const MiB = 1024 * 1024;
// How far apart two back-to-back readings may be, and why.
const TOLERANCE = {
  cpuUserSeconds: 0.01, // both getrusage, microseconds apart
  cpuSystemSeconds: 0.01,
  residentMemoryBytes: 2 * MiB, // the fallback's own reads touch heap pages
  virtualMemoryBytes: 0,
  dataBytes: 0,
  maxResidentMemoryBytes: 2 * MiB,
  openFds: 0, // each excludes only its own counting fd: the same total
  maxFds: 0,
  maxFdsHard: 0,
  threads: 0,
  startTimeSeconds: 0.02, // 10 ms ticks; the fallback's boot instant has 10 ms resolution
  voluntaryContextSwitches: 5,
  involuntaryContextSwitches: 5,
  minorPageFaults: 500, // the fallback's reads fault in pages
  majorPageFaults: 2,
};

test('every field has a stated tolerance', () => {
  assert.deepEqual(Object.keys(TOLERANCE).sort(), SLOTS.map((slot) => slot.field).sort());
});

function compareOnce(fallback, label, expectedOffset = {}) {
  const nativeSlots = new Float64Array(SLOT_COUNT);
  const fallbackSlots = fallback.slots;
  // Virtual memory moves in large steps when V8 or malloc maps a region, and
  // the data size also when V8 flips its code pages between writable and
  // executable (mprotect, the size unchanged); retry until two native
  // readings around the fallback's agree on both, then compare.
  for (let attempt = 0; attempt < 20; attempt++) {
    const check = new Float64Array(SLOT_COUNT);
    native.sample(nativeSlots);
    fallback.sample();
    native.sample(check);
    if (MAPPING_SLOTS.every((index) => check[index] === nativeSlots[index])) break;
  }
  for (const slot of SLOTS) {
    const a = nativeSlots[slot.index];
    const b = fallbackSlots[slot.index] - (expectedOffset[slot.field] ?? 0);
    assert.ok(!Number.isNaN(a) && !Number.isNaN(b), `${label}: ${slot.field} native ${a}, fallback ${b}`);
    assert.ok(
      Math.abs(a - b) <= TOLERANCE[slot.field],
      `${label}: ${slot.field} native ${a} vs fallback ${b} (tolerance ${TOLERANCE[slot.field]})`,
    );
  }
}

test('native and fallback agree on every field across process states', async () => {
  const fallback = new FallbackProcessSampler();
  compareOnce(fallback, 'idle');

  const fds = Array.from({ length: 1000 }, () => openSync('/dev/null', 'r'));
  compareOnce(fallback, '1,000 extra fds');
  for (const fd of fds) closeSync(fd);

  busyLoop(100);
  compareOnce(fallback, 'after CPU work');

  const ballast = Array.from({ length: 64 }, () => Buffer.alloc(1024 * 1024, 1));
  compareOnce(fallback, 'after 64 MiB allocated');
  ballast.length = 0;

  const workers = [];
  for (let i = 0; i < 3; i++) {
    const worker = new Worker('require("node:worker_threads").parentPort.postMessage(1); setInterval(() => {}, 1000);', { eval: true });
    workers.push(worker);
    await once(worker, 'message');
  }
  compareOnce(fallback, '3 workers running');
  await Promise.all(workers.map((worker) => worker.terminate()));
});

test('the fallback without kept files (as in workers) agrees too', () => {
  // Without a kept directory fd the fallback counts by path and leaves
  // nothing out, so it also counts the fd the native addon counts with.
  compareOnce(new FallbackProcessSampler({ keepFilesOpen: false }), 'per-read files', { openFds: 1 });
});

test('the fallback counting /proc/self/fd entries, as on kernels before 6.2, agrees too, with 1,000 extra fds', () => {
  const scanning = new FallbackProcessSampler({ forceDirectoryScan: true });
  compareOnce(scanning, 'directory scan');
  const fds = Array.from({ length: 1000 }, () => openSync('/dev/null', 'r'));
  try {
    compareOnce(scanning, 'directory scan, 1,000 extra fds');
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});
