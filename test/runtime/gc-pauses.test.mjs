// drainGcPauses(): every pause handed out exactly once; overflow counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import procmeter from '../helpers/procmeter.mjs';
import { runNode } from '../helpers/child.mjs';

const { drainGcPauses, gcPauseRingCapacity } = procmeter;

test('drainGcPauses() rejects anything but a Float64Array with room for a pause', () => {
  for (const bad of [undefined, null, 5, [], new Float32Array(8), new Float64Array(1), new Float64Array(0)]) {
    assert.throws(() => drainGcPauses(bad), (error) => error instanceof TypeError && /drainGcPauses\(out\): out must be a Float64Array/.test(error.message));
  }
});

test('drainGcPauses() takes a Float64Array from another realm (a vm context) and names the type of a wrong one', async () => {
  const { runInNewContext } = await import('node:vm');
  const foreign = runInNewContext('new Float64Array(64)');
  assert.ok(!(foreign instanceof Float64Array), "the test's premise: another realm's constructor");
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--expose-gc');
  runInNewContext('gc')(); // at least this pause is in the ring
  await new Promise((resolve) => setTimeout(resolve, 20)); // the fallback's observer reports it on a later tick
  const moved = drainGcPauses(foreign);
  assert.ok(Number.isInteger(moved) && moved >= 1 && moved <= 32, `moved ${moved}`);
  // Written into the foreign array: a GC kind index and a pause in seconds.
  assert.ok(Number.isInteger(foreign[0]) && foreign[0] >= 0 && foreign[1] > 0 && foreign[1] < 10, `first pause ${foreign[0]}, ${foreign[1]}`);
  assert.throws(() => drainGcPauses(new Float32Array(8)), /got a Float32Array/);
  assert.throws(() => drainGcPauses(new Uint8Array(8)), /got a Uint8Array/);
});

test('drainGcPauses(out) goes by the array\'s real length, not a length property put on it: no pause is handed out without room for it', async () => {
  const { runInNewContext } = await import('node:vm');
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const scratch = new Float64Array(2 * 64);
  while (drainGcPauses(scratch) > 0); // an empty ring
  for (let i = 0; i < 4; i++) gc();
  await new Promise((resolve) => setTimeout(resolve, 20)); // the fallback's observer reports them on a later tick
  const out = new Float64Array(2); // room for one pause
  Object.defineProperty(out, 'length', { value: 100 });
  let drained = 0;
  for (let moved; (moved = drainGcPauses(out)) > 0; drained += moved) {
    assert.equal(moved, 1, 'one pause at a time: the room there is');
    assert.ok(out[1] > 0, `the pause written: ${out[1]}`);
  }
  assert.ok(drained >= 4, `${drained} pauses drained after 4 GCs`);
});

test('drainGcPauses() alone hands out a GC\'s pause as soon as collect() counts the GC', () => {
  // An application that drains without calling collect() first (say, a
  // histogram fed between scrapes) gets each pause when the counts have it.
  const result = runNode(
    `
    import { collect, drainGcPauses } from 'procmeter';
    const out = new Float64Array(2 * 64);
    const drainAll = () => { let total = 0; for (let n; (n = drainGcPauses(out)) > 0; ) total += n; return total; };
    const gcCount = () => Object.values(collect().gc).reduce((sum, kind) => sum + kind.count, 0);
    const rounds = [];
    for (let round = 0; round < 5; round++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      drainAll();
      const before = gcCount();
      drainAll(); // collect() may have taken in a pause of its own
      globalThis.gc();
      await new Promise((resolve) => setImmediate(resolve));
      const drained = drainAll();
      const counted = gcCount() - before;
      // A GC that collect()'s own allocation set off, counted after the drain.
      const late = drainAll();
      rounds.push({ drained, late, counted });
    }
    console.log(JSON.stringify(rounds));`,
    { nodeArgs: ['--expose-gc'] },
  );
  assert.equal(result.status, 0, result.stderr);
  for (const { drained, late, counted } of result.json()) {
    assert.ok(drained >= 1, `the forced GC's pause drained right after it: ${drained}`);
    assert.equal(drained + late, counted, 'every GC counted has its pause');
  }
});

test('drained pauses are complete and never repeated', () => {
  const result = runNode(
    `
    import { collect, drainGcPauses, GC_KINDS } from 'procmeter';
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
    const out = new Float64Array(6); // room for 3 pauses: forces many partial drains
    const drainAll = () => {
      const pauses = [];
      for (let n; (n = drainGcPauses(out)) > 0; ) {
        for (let i = 0; i < n; i++) pauses.push([out[2 * i], out[2 * i + 1]]);
      }
      return pauses;
    };
    await settle();
    drainAll();
    const before = collect();
    for (let round = 0; round < 30; round++) {
      let garbage = Array.from({ length: 30_000 }, (_, i) => ({ round, i }));
      garbage = null;
      if (round % 10 === 0) globalThis.gc();
    }
    await settle();
    const after = collect();
    const pauses = drainAll();
    const again = drainAll();
    const expected = {};
    for (const kind of GC_KINDS) {
      expected[kind] = { count: after.gc[kind].count - before.gc[kind].count, seconds: after.gc[kind].seconds - before.gc[kind].seconds };
    }
    console.log(JSON.stringify({ pauses, again: again.length, expected, kinds: GC_KINDS, dropped: after.gcPausesDropped - before.gcPausesDropped }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  assert.equal(result.dropped, 0);
  assert.equal(result.again, 0, 'a second drain returned pauses again');
  const drained = Object.fromEntries(result.kinds.map((kind) => [kind, { count: 0, seconds: 0 }]));
  for (const [kindIndex, seconds] of result.pauses) {
    const kind = result.kinds[kindIndex];
    assert.ok(kind !== undefined, `pause with unknown kind index ${kindIndex}`);
    assert.ok(seconds >= 0 && seconds < 10, `implausible pause ${seconds}`);
    drained[kind].count += 1;
    drained[kind].seconds += seconds;
  }
  const total = result.pauses.length;
  assert.ok(total >= 10, `only ${total} pauses`);
  for (const kind of result.kinds) {
    assert.equal(drained[kind].count, result.expected[kind].count, `${kind}: drained ${drained[kind].count} pauses, counted ${result.expected[kind].count}`);
    assert.ok(Math.abs(drained[kind].seconds - result.expected[kind].seconds) < 1e-6, `${kind}: drained seconds differ from the total`);
  }
});

test('pauses beyond the ring capacity are dropped and counted, totals stay whole', () => {
  const extra = 300;
  const result = runNode(
    `
    import { collect, drainGcPauses, gcPauseRingCapacity } from 'procmeter';
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
    const out = new Float64Array(2 * 1024);
    const drainAll = () => { let total = 0; for (let n; (n = drainGcPauses(out)) > 0; ) total += n; return total; };
    await settle();
    drainAll();
    const before = collect();
    // Minor GCs on demand; batches with a tick between so the fallback's
    // observer keeps up.
    const wanted = gcPauseRingCapacity + ${extra};
    for (let done = 0; done < wanted; ) {
      for (let i = 0; i < 500 && done < wanted; i++, done++) globalThis.gc({ type: 'minor' });
      await settle();
    }
    await settle();
    const after = collect();
    const count = (s) => Object.values(s.gc).reduce((sum, k) => sum + k.count, 0);
    console.log(JSON.stringify({
      capacity: gcPauseRingCapacity,
      gcs: count(after) - count(before),
      dropped: after.gcPausesDropped - before.gcPausesDropped,
      drained: drainAll(),
      drainedAgain: drainAll(),
    }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  assert.equal(result.capacity, gcPauseRingCapacity);
  assert.ok(result.gcs >= result.capacity + extra, `only ${result.gcs} GCs`);
  assert.equal(result.drained, result.capacity, 'the full ring is drained');
  assert.equal(result.dropped, result.gcs - result.capacity, 'every GC not in the ring is counted as dropped');
  assert.equal(result.drainedAgain, 0);
});
