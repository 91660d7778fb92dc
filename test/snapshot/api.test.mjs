// collect(), collect(into), createSnapshot() and diff(): shapes, semantics, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

import procmeter from '../helpers/procmeter.mjs';
import { assertClose, busyLoop } from '../helpers/assertions.mjs';

const { collect, createSnapshot, diff, SLOTS } = procmeter;

test('collect() returns a new plain object each time', () => {
  const first = collect();
  const second = collect();
  assert.notEqual(first, second);
  assert.equal(Object.getPrototypeOf(first), Object.prototype);
});

test('collect(into) refills and returns the same object', () => {
  const into = createSnapshot();
  for (const slot of SLOTS) assert.ok(Number.isNaN(into[slot.field]), `${slot.field} starts NaN`);
  const returned = collect(into);
  assert.equal(returned, into);
  for (const slot of SLOTS) assert.ok(!Number.isNaN(into[slot.field]), `${slot.field} filled`);
  const fd = openSync('/dev/null', 'r');
  try {
    const openBefore = into.openFds;
    collect(into);
    assert.equal(into.openFds, openBefore + 1);
  } finally {
    closeSync(fd);
  }
});

test('collect(into) accepts a snapshot that went through JSON', () => {
  const fresh = collect();
  const copy = JSON.parse(JSON.stringify(fresh));
  // Marks that only a refill removes: a collect(into) that did nothing fails.
  copy.residentMemoryBytes = -1;
  copy.heapUsedBytes = -1;
  copy.gc.scavenge.count = -1;
  delete copy.heapSpaces;
  assert.equal(collect(copy), copy);
  assert.ok(copy.residentMemoryBytes > 0, `residentMemoryBytes ${copy.residentMemoryBytes}`);
  assert.ok(copy.heapUsedBytes > 0, `heapUsedBytes ${copy.heapUsedBytes}`);
  assert.ok(copy.gc.scavenge.count >= 0, `gc.scavenge.count ${copy.gc.scavenge.count}`);
  assert.deepEqual(copy.heapSpaces.map((space) => space.name), fresh.heapSpaces.map((space) => space.name));
  assert.ok(copy.heapSpaces.every((space) => space.sizeBytes >= 0), JSON.stringify(copy.heapSpaces));
});

test('collect(into) with the same heap spaces in another order (from another Node) relabels them: each figure under its own space', () => {
  const reordered = collect();
  // Same length, same first space, the others reversed.
  const [first, ...rest] = reordered.heapSpaces;
  reordered.heapSpaces = [first, ...rest.reverse()];
  collect(reordered);
  assert.deepEqual(reordered.heapSpaces.map((space) => space.name), getHeapSpaceStatistics().map((space) => space.space_name));
  // Each size under its own name, by the v8 module's reading around a
  // refill; again if V8 grew a space in between (the fallback allocates).
  const sizes = () => new Map(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
  for (let attempt = 1; ; attempt++) {
    const before = sizes();
    collect(reordered);
    const after = sizes();
    if ([...before].some(([name, size]) => after.get(name) !== size)) {
      assert.ok(attempt < 50, 'the heap never held still over one collect()');
      continue;
    }
    for (const space of reordered.heapSpaces) assert.equal(space.sizeBytes, before.get(space.name), space.name);
    break;
  }
});

test('collect(into) whose getter throws gets the TypeError naming into', () => {
  const into = collect();
  Object.defineProperty(into, 'heapSpaces', { get() { throw new Error('no spaces today'); } });
  assert.throws(() => collect(into), (error) => error instanceof TypeError && /collect\(into\): into must be a snapshot object .*reading it failed: no spaces today/.test(error.message));
});

test("the exported tables and loadDiagnostics() are procmeter's own: a caller cannot change them (drainGcPauses() kinds index GC_KINDS)", () => {
  const { GC_KINDS, GC_KIND_DESCRIPTIONS, GC_FIELD_INFO, HEAP_SPACE_FIELD_INFO, METRIC_GROUPS, loadDiagnostics } = procmeter;
  const kinds = [...GC_KINDS];
  assert.throws(() => GC_KINDS.sort(), TypeError);
  assert.deepEqual([...GC_KINDS], kinds);
  assert.throws(() => { SLOTS[0].unit = 'x'; }, TypeError);
  assert.throws(() => { GC_KIND_DESCRIPTIONS.scavenge = 'x'; }, TypeError);
  assert.throws(() => GC_FIELD_INFO.pop(), TypeError);
  assert.throws(() => { HEAP_SPACE_FIELD_INFO[0].description = 'x'; }, TypeError);
  assert.throws(() => METRIC_GROUPS.push('x'), TypeError);
  const diagnostics = loadDiagnostics();
  assert.throws(() => { diagnostics.fallbackReason = 'x'; }, TypeError);
  assert.throws(() => diagnostics.attempts.push({ path: 'x' }), TypeError);
  assert.notEqual(loadDiagnostics().fallbackReason, 'x');
});

test('collect() rejects anything but a snapshot object with a TypeError naming the argument', () => {
  for (const bad of [42, 'snapshot', null, true, [], () => {}, new Float64Array(200)]) {
    assert.throws(() => collect(bad), (error) => {
      assert.ok(error instanceof TypeError, `${typeof bad}: ${error}`);
      assert.match(error.message, /collect\(into\): into must be a snapshot object/);
      return true;
    });
  }
});

test('collect(into) with a snapshot it cannot write (frozen, sealed without its nested objects) throws a TypeError naming into', () => {
  const frozen = Object.freeze(createSnapshot());
  const sealed = Object.seal({ cpuUserSeconds: 0 });
  for (const bad of [frozen, sealed]) {
    assert.throws(() => collect(bad), (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /collect\(into\): into must be a snapshot object .*writable; filling it failed: /);
      return true;
    });
  }
});

test('collect(into) with a heap space or GC kind it cannot write throws a TypeError, and leaves the nested objects the caller holds in place', () => {
  const unwritable = [
    ['a frozen heap space', (snapshot) => Object.freeze(snapshot.heapSpaces[0])],
    ['a heap-space field with a throwing setter', (snapshot) => Object.defineProperty(snapshot.heapSpaces[1], 'usedBytes', { get: () => 1, set() { throw new Error('no'); } })],
    ['a frozen GC kind', (snapshot) => Object.freeze(snapshot.gc.scavenge)],
  ];
  for (const [what, spoil] of unwritable) {
    const snapshot = createSnapshot();
    const { gc, heapSpaces } = snapshot;
    spoil(snapshot);
    assert.throws(() => collect(snapshot), (error) => {
      assert.ok(error instanceof TypeError, `${what}: ${error}`);
      assert.match(error.message, /collect\(into\): into must be a snapshot object .*writable; filling it failed: /, what);
      return true;
    });
    assert.ok(snapshot.heapSpaces === heapSpaces && snapshot.gc === gc, `${what}: the nested objects were replaced`);
  }
});

test('diff() with an argument whose fields throw when read (a getter, a Proxy) throws a TypeError naming that argument', () => {
  const good = collect();
  const throwingField = Object.defineProperty({ ...collect() }, 'cpuUserSeconds', { get() { throw new Error('boom'); } });
  const throwingProxy = new Proxy({}, { get() { throw new RangeError('trap'); } });
  const throwingGc = Object.defineProperty(createSnapshot(), 'gc', { get() { throw new Error('boom'); } });
  const cases = [
    [[throwingProxy, good], /^procmeter\.diff\(before, after, into\?\): before must be a snapshot .*; reading it failed: trap$/],
    [[good, throwingField], /^procmeter\.diff\(before, after, into\?\): after must be a snapshot .*; reading it failed: boom$/],
    // into is filled, and repaired where it lacks parts, not checked first.
    [[good, good, throwingGc], /^procmeter\.diff\(before, after, into\): into must be a writable snapshot; filling it failed: boom$/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => diff(...args), (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
  // A field the argument check does not read.
  const throwingLater = Object.defineProperty({ ...collect() }, 'openFds', { get() { throw new Error('late'); } });
  assert.throws(() => diff(good, throwingLater), /^TypeError: procmeter\.diff\(before, after\): before and after must be snapshots returned by collect\(\); reading them failed: late$/);
  // Not blamed on a writable into.
  assert.throws(() => diff(good, throwingLater, createSnapshot()), /^TypeError: procmeter\.diff\(before, after, into\): before and after must be snapshots returned by collect\(\); reading them failed: late$/);
  const throwingName = { ...collect(), heapSpaces: collect().heapSpaces.map((space, i) => (i === 0 ? Object.defineProperty({ ...space }, 'name', { get() { throw new Error('name'); } }) : space)) };
  assert.throws(() => diff(good, throwingName), /^TypeError: procmeter\.diff\(before, after\): before and after must be snapshots .*; reading them failed: name$/);
});

test('diff(before, after, into) with an into it cannot write (frozen) throws a TypeError naming into', () => {
  const before = collect();
  const after = collect();
  assert.throws(() => diff(before, after, Object.freeze(createSnapshot())), (error) => {
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /diff\(before, after, into\): into must be a writable snapshot; filling it failed: /);
    return true;
  });
});

test('diff() rejects missing or non-snapshot arguments with a TypeError', () => {
  const good = collect();
  const cases = [
    [[{}, null], /before must be a snapshot/],
    [[collect(), null], /after must be a snapshot.*got null/],
    [[{}, good], /before must be a snapshot.*got an object without cpuUserSeconds$/],
    [[null, good], /before must be a snapshot.*got null/],
    [[good, 42], /after must be a snapshot.*got number 42/],
    [[good, good, 'x'], /into must be a snapshot/],
    [[good], /after must be a snapshot.*got undefined/],
    // The first part missing is named: a snapshot of another version, say.
    [[{ ...good, gc: { scavenge: good.gc.scavenge } }, good], /before must be a snapshot.*without gc\.minorMarkSweep$/],
    [[good, { ...good, heapSpaces: [null] }], /after must be a snapshot.*without heapSpaces\[0\]$/],
    // A hole, which every() skips.
    [[good, { ...good, heapSpaces: [, ...good.heapSpaces.slice(1)] }], /after must be a snapshot.*without heapSpaces\[0\]$/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => diff(...args), (error) => error instanceof TypeError && message.test(error.message));
  }
});

test('diff() subtracts counters and takes gauges from the later snapshot', () => {
  const cpuBefore = process.cpuUsage();
  const before = collect();
  busyLoop(150);
  const fds = Array.from({ length: 25 }, () => openSync('/dev/null', 'r'));
  const kept = Array.from({ length: 20_000 }, (_, i) => ({ i })); // moves the heap spaces' figures
  try {
    const after = collect();
    const cpuSpent = process.cpuUsage(cpuBefore);
    const change = diff(before, after);
    // Ground truth for the counters: Node's own CPU accounting over the section.
    assertClose(change.cpuUserSeconds, cpuSpent.user / 1e6, 0.01, 'user CPU spent');
    assertClose(change.cpuSystemSeconds, cpuSpent.system / 1e6, 0.01, 'system CPU spent');
    assert.ok(change.cpuUserSeconds > 0.1);
    for (const slot of SLOTS) {
      if (slot.kind === 'counter') {
        // Not a total, not 0: exactly the growth between the two readings.
        assert.ok(Object.is(change[slot.field], after[slot.field] - before[slot.field]), `${slot.field}: diff ${change[slot.field]}, after - before ${after[slot.field] - before[slot.field]}`);
        assert.ok(!(change[slot.field] < 0), `${slot.field} counter went backwards: ${change[slot.field]}`);
      } else {
        assert.equal(change[slot.field], after[slot.field], `${slot.field} is the later gauge value`);
      }
    }
    for (const kind of Object.keys(after.gc)) {
      for (const field of ['count', 'seconds', 'reclaimedBytes']) {
        const expected = after.gc[kind][field] - before.gc[kind][field];
        assert.ok(Object.is(change.gc[kind][field], expected), `gc.${kind}.${field}: diff ${change.gc[kind][field]}, after - before ${expected}`);
      }
    }
    assert.equal(change.openFds, before.openFds + 25);
    const spaceFigures = (snapshot) => snapshot.heapSpaces.map(({ name, sizeBytes, usedBytes, availableBytes, physicalBytes }) => [name, sizeBytes, usedBytes, availableBytes, physicalBytes]);
    assert.notDeepEqual(spaceFigures(after), spaceFigures(before), 'the heap spaces did not move');
    assert.deepEqual(spaceFigures(change), spaceFigures(after), 'heap spaces are gauges: taken from the later snapshot');
    assert.ok(kept.length > 0);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});

test('diff(before, after, into) writes into the given object', () => {
  const into = createSnapshot();
  const result = diff(collect(), collect(), into);
  assert.equal(result, into);
  assert.ok(into.cpuUserSeconds >= 0);
});

test('the slot table documents every field with a kind and a unit', () => {
  const kinds = new Set(SLOTS.map((slot) => slot.kind));
  assert.deepEqual([...kinds].sort(), ['counter', 'gauge']);
  for (const slot of SLOTS) {
    assert.ok(slot.unit.length > 0 && slot.description.length > 10, slot.field);
  }
  assert.deepEqual(SLOTS.map((slot) => slot.index), SLOTS.map((_, i) => i));
});

test('diff() of snapshots that went through JSON gives what diff() of the originals gives: a NaN (null in JSON) stays NaN, never 0 or a whole total', () => {
  const json = (snapshot) => JSON.parse(JSON.stringify(snapshot));
  const later = collect();
  // createSnapshot() is all NaN: every counter of the difference is NaN,
  // every gauge the later value.
  for (const [before, after] of [[createSnapshot(), later], [later, createSnapshot()], [collect(), collect()]]) {
    const expected = diff(before, after);
    assert.deepStrictEqual(diff(json(before), json(after)), expected);
    assert.deepStrictEqual(diff(json(before), json(after), json(createSnapshot())), expected);
  }
  // Independently of diff() of the originals: against an all-NaN before,
  // every counter is NaN and every gauge the later value.
  const fromNothing = diff(json(createSnapshot()), json(later));
  for (const slot of SLOTS) {
    const expected = slot.kind === 'counter' ? NaN : later[slot.field];
    assert.ok(Object.is(fromNothing[slot.field], expected), `${slot.field}: ${fromNothing[slot.field]}, expected ${expected}`);
  }
  for (const [kind, stats] of Object.entries(fromNothing.gc)) {
    for (const [field, value] of Object.entries(stats)) assert.ok(Number.isNaN(value), `gc.${kind}.${field}: ${value}`);
  }
});

test('diff(before, after, into) gives into the heap spaces of after when it has others (cut short, or from another Node)', () => {
  const before = collect();
  const after = collect();
  const into = createSnapshot();
  into.heapSpaces = into.heapSpaces.slice(0, 2);
  diff(before, after, into);
  assert.deepEqual(into.heapSpaces, after.heapSpaces);
  const renamed = createSnapshot();
  renamed.heapSpaces[0].name = 'no_such_space';
  assert.deepEqual(diff(before, after, renamed).heapSpaces, after.heapSpaces);
});

test('diff(before, after, into) gives an into that lacks parts what it lacks, as collect(into) does: the result is diff(before, after)', () => {
  const before = collect();
  const after = collect();
  const expected = diff(before, after);
  const holes = createSnapshot();
  holes.heapSpaces = new Array(3);
  const nullSpace = createSnapshot();
  nullSpace.heapSpaces[0] = null;
  const oneKindLess = createSnapshot();
  delete oneKindLess.gc.minorMarkSweep;
  const noGc = createSnapshot();
  delete noGc.gc;
  for (const into of [holes, nullSpace, oneKindLess, noGc, {}]) {
    assert.equal(diff(before, after, into), into);
    assert.deepStrictEqual(into, expected);
  }
});

test('a revoked Proxy passed as a snapshot gets the TypeError naming the argument', () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  assert.throws(() => collect(proxy), (error) => error instanceof TypeError && /collect\(into\): into must be a snapshot.*got a revoked Proxy/.test(error.message));
  assert.throws(() => diff(proxy, collect()), (error) => error instanceof TypeError && /before must be a snapshot.*got a revoked Proxy/.test(error.message));
  assert.throws(() => diff(collect(), collect(), proxy), (error) => error instanceof TypeError && /into must be a snapshot.*got a revoked Proxy/.test(error.message));
});
