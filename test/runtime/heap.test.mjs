// Heap figures against the v8 module, read at the same moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';

import procmeter from '../helpers/procmeter.mjs';
import { runNode } from '../helpers/child.mjs';

const { collect, createSnapshot } = procmeter;

// Reads v8, procmeter, v8 again until the two v8 readings of `pick` agree,
// then procmeter must equal them exactly.
function bracketed(readTruth, readOurs, label) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const before = readTruth();
    const ours = readOurs();
    const after = readTruth();
    if (JSON.stringify(before) === JSON.stringify(after)) {
      assert.deepEqual(ours, before, label);
      return;
    }
  }
  assert.fail(`${label}: v8 figures never held still`);
}

const snapshot = createSnapshot();

test('heap totals equal v8.getHeapStatistics()', () => {
  const pick = (total, limit, executable, contexts, detached, external) => ({ total, limit, executable, contexts, detached, external });
  bracketed(
    () => {
      const h = v8.getHeapStatistics();
      return pick(h.total_heap_size, h.heap_size_limit, h.total_heap_size_executable, h.number_of_native_contexts, h.number_of_detached_contexts, h.external_memory);
    },
    () => {
      const s = collect(snapshot);
      return pick(s.heapTotalBytes, s.heapLimitBytes, s.heapExecutableBytes, s.nativeContexts, s.detachedContexts, s.externalMemoryBytes);
    },
    'heap totals',
  );
});

test('used, available, physical and malloced heap agree with v8.getHeapStatistics() within what one call allocates', () => {
  // Compiling a large function takes zone memory that V8 frees again: the
  // peak of malloced memory then stands well above the current figure.
  new Function(`return [${Array.from({ length: 20_000 }, (_, i) => `{ a${i}: ${i} }`).join(',')}];`)();
  const { malloced_memory: malloced, peak_malloced_memory: peak } = v8.getHeapStatistics();
  assert.ok(peak - malloced > 1024 * 1024, `peak malloced ${peak}, malloced ${malloced}`);
  // A GC between the readings (one every few hundred KB allocated) takes the
  // used heap out of the bracket: try again then, as for the heap spaces.
  let misses = [];
  let s;
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = v8.getHeapStatistics();
    s = collect(snapshot);
    const after = v8.getHeapStatistics();
    misses = [];
    for (const [ours, field] of [
      [s.heapUsedBytes, 'used_heap_size'],
      [s.heapAvailableBytes, 'total_available_size'],
      [s.heapPhysicalBytes, 'total_physical_size'],
      [s.mallocedMemoryBytes, 'malloced_memory'],
      [s.peakMallocedMemoryBytes, 'peak_malloced_memory'],
    ]) {
      const low = Math.min(before[field], after[field]) - 64 * 1024;
      const high = Math.max(before[field], after[field]) + 64 * 1024;
      if (!(ours >= low && ours <= high)) misses.push(`${field}: procmeter ${ours}, v8 ${before[field]} -> ${after[field]}`);
    }
    if (misses.length === 0) break;
  }
  assert.deepEqual(misses, []);
});

test('heap spaces match v8.getHeapSpaceStatistics() by name and figures', () => {
  const names = v8.getHeapSpaceStatistics().map((space) => space.space_name);
  assert.deepEqual(collect().heapSpaces.map((space) => space.name), names);
  bracketed(
    () => v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size, space.physical_space_size]),
    () => collect(snapshot).heapSpaces.map((space) => [space.name, space.sizeBytes, space.physicalBytes]),
    'heap space sizes',
  );
  // Used and available move with every allocation: procmeter's reading must
  // lie between two v8 readings taken around it (give or take what the test
  // itself allocates). A GC in between widens the range; try again then.
  const slack = 256 * 1024;
  let misses = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = v8.getHeapSpaceStatistics();
    const ours = collect(snapshot).heapSpaces;
    const after = v8.getHeapSpaceStatistics();
    misses = [];
    for (let i = 0; i < before.length; i++) {
      for (const [field, value] of [['space_used_size', ours[i].usedBytes], ['space_available_size', ours[i].availableBytes]]) {
        const low = Math.min(before[i][field], after[i][field]) - slack;
        const high = Math.max(before[i][field], after[i][field]) + slack;
        if (value < low || value > high) misses.push(`${before[i].space_name} ${field}: ${value} not in [${low}, ${high}]`);
      }
    }
    if (misses.length === 0) break;
  }
  assert.deepEqual(misses, []);
});

test('heap used follows allocation and collection', () => {
  const result = runNode(
    `
    import { collect } from 'procmeter';
    globalThis.gc();
    const empty = collect().heapUsedBytes;
    let big = Array.from({ length: 1_000_000 }, (_, i) => ({ i }));
    const full = collect().heapUsedBytes;
    big = null;
    globalThis.gc();
    const collected = collect().heapUsedBytes;
    console.log(JSON.stringify({ empty, full, collected }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  assert.ok(result.full - result.empty > 16 * 1024 * 1024, JSON.stringify(result));
  assert.ok(result.full - result.collected > 16 * 1024 * 1024, JSON.stringify(result));
});

test('a snapshot from JSON, or without the nested objects, is given them by collect(into)', () => {
  const fromJson = JSON.parse(JSON.stringify(collect()));
  assert.equal(collect(fromJson), fromJson);
  assert.equal(fromJson.heapSpaces.length, v8.getHeapSpaceStatistics().length);
  const bare = { cpuUserSeconds: 0 };
  collect(bare);
  assert.ok(bare.heapUsedBytes > 0);
  assert.ok(bare.gc.scavenge.count >= 0, 'GC counts filled in');
  assert.equal(bare.heapSpaces.length, v8.getHeapSpaceStatistics().length);
  // Shaped enough to pass the cheap check, with a GC kind or a heap space
  // missing (a snapshot kept from another procmeter version, say).
  for (const partial of [
    { ...collect(), gc: { scavenge: {} } },
    { ...collect(), heapSpaces: collect().heapSpaces.map((space, i) => (i === 1 ? null : space)) },
  ]) {
    assert.equal(collect(partial), partial);
    assert.ok(partial.gc.markSweepCompact.count >= 0, 'GC counts filled in');
    assert.ok(partial.heapSpaces.every((space) => space.usedBytes >= 0), JSON.stringify(partial.heapSpaces));
  }
});
