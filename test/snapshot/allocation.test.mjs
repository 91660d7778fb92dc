// collect(into) is the hot-path form: it must not allocate on the JS heap.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { isNative } from '../helpers/procmeter.mjs';
import { runNode } from '../helpers/child.mjs';

// Measured in a fresh process so nothing else allocates meanwhile. Heap use
// is read around a run of 0 calls (what the measuring itself costs) and
// around a run of 1,000,000 calls; no GC may run in between. A single
// 16-byte HeapNumber per call would show as 16 MB and several scavenges.
// V8 may start a GC of its own accord during a run that allocates nothing
// (seen once in CI: 2 GCs, heap use unchanged): such a run proves nothing
// either way, so up to 3 runs are made, until one has no GC in it.
const measure = (call) => `
  import { collect, createSnapshot } from 'procmeter';
  import { getHeapStatistics } from 'node:v8';
  import { PerformanceObserver } from 'node:perf_hooks';
  const into = createSnapshot();
  let kept;
  function run(calls) {
    for (let i = 0; i < calls; i++) kept = ${call};
  }
  for (let round = 0; round < 5; round++) run(20_000); // optimise, settle shapes
  const gcKinds = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcKinds.push(entry.detail?.kind ?? entry.kind);
  });
  observer.observe({ entryTypes: ['gc'] });
  function grownBy(calls) {
    const before = getHeapStatistics().used_heap_size;
    run(calls);
    return getHeapStatistics().used_heap_size - before;
  }
  const calls = 1_000_000;
  const attempts = [];
  do {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // That GC dropped the loop's on-stack-replacement code: compile it again
    // now, or V8 does it during the measured run, and code is heap too (11.8
    // KB on Node 24, once, whatever the number of calls).
    run(20_000);
    gcKinds.length = 0;
    grownBy(0);
    const harnessBytes = grownBy(0);
    const grewBytes = grownBy(calls);
    await new Promise((resolve) => setTimeout(resolve, 50)); // GC entries arrive late
    attempts.push({ harnessBytes, grewBytes, gcs: gcKinds.length, gcKinds: [...gcKinds] });
  } while (attempts.at(-1).gcs > 0 && attempts.length < 3);
  observer.disconnect();
  console.log(JSON.stringify({ calls, attempts, residentMemoryBytes: kept.residentMemoryBytes }));
`;

test('collect(into) allocates nothing on the JS heap', { skip: !isNative && 'the fallback calls Node APIs that allocate' }, () => {
  const result = runNode(measure('collect(into)'), { nodeArgs: ['--expose-gc'] }).json();
  assert.ok(result.residentMemoryBytes > 0);
  const clean = result.attempts.find((attempt) => attempt.gcs === 0);
  assert.ok(clean, `a GC ran during each of ${result.attempts.length} runs of ${result.calls} calls: ${JSON.stringify(result)}`);
  const perCall = (clean.grewBytes - clean.harnessBytes) / result.calls;
  assert.ok(perCall < 0.01, `${perCall} bytes per call: ${JSON.stringify(result)}`);
});

test('the allocation harness does see a snapshot allocated per call (control)', { skip: !isNative && 'native only' }, () => {
  const result = runNode(measure('collect()'), { nodeArgs: ['--expose-gc'] }).json();
  assert.ok(
    result.attempts.every((attempt) => attempt.gcs > 0),
    `a run of ${result.calls} allocating calls without a GC: ${JSON.stringify(result)}`,
  );
});
