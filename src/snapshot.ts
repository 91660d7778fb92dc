// collect(), diff() and drainGcPauses(): the hot-path API over the sampler.
import { debuglog, types } from 'node:util';

import {
  GC_KINDS,
  SLOT_COUNT,
  createGcStats,
  createHeapSpaceStats,
  createSnapshotOf,
  diffSnapshots,
  readSlots,
  type Snapshot,
} from './generated/layout';
import { sampler } from './implementation';
import { describeValue, isObject, typedArrayLength } from './validate';

const debug = debuglog('procmeter');
const heapSpaceNames = sampler.heapSpaceNames;

/** A new snapshot with every number NaN, to pass to collect(into) later. */
export function createSnapshot(): Snapshot {
  return createSnapshotOf(heapSpaceNames);
}

/**
 * Reads the process and this thread's V8 runtime now. Without an argument,
 * returns a new snapshot; with one, refills it and returns it (the hot-path
 * form: with the full native addon, gcImplementation 'native', it allocates
 * nothing).
 */
export function collect(into?: Snapshot): Snapshot {
  let target: Snapshot;
  let structured = true;
  if (into === undefined) {
    target = createSnapshotOf(heapSpaceNames);
  } else if (isFillable(into)) {
    target = into;
    try {
      structured = hasStructure(target);
    } catch (error) {
      // A getter of the caller's that throws.
      throw new TypeError(`procmeter.collect(into): ${INTO_ACCEPTED}; reading it failed: ${(error as Error)?.message}`, { cause: error });
    }
  } else {
    throw new TypeError(`procmeter.collect(into): ${INTO_ACCEPTED} or undefined; got ${describeValue(into)}`);
  }
  const slots = sampleSlots();
  if (structured) {
    try {
      readSlots(target, slots);
      return target;
    } catch {
      // A nested object hasStructure() does not look at (it checks only what
      // tells a snapshot of this Node from others, to stay cheap) is missing:
      // one GC kind from a snapshot of another procmeter version, say.
    }
  }
  try {
    giveStructure(target);
    readSlots(target, slots);
  } catch (error) {
    // Frozen, sealed, or with read-only fields.
    throw new TypeError(`procmeter.collect(into): ${INTO_ACCEPTED}, writable; filling it failed: ${(error as Error)?.message}`, { cause: error });
  }
  return target;
}

const INTO_ACCEPTED = 'into must be a snapshot object (from collect() or createSnapshot())';

/** What collect(into) and diff(..., into) accept to fill: a plain object, repaired where it lacks parts. */
function isFillable(value: unknown): value is Snapshot {
  return isObject(value) && !ArrayBuffer.isView(value);
}

/**
 * Takes one reading into the sampler's own slots and returns them (valid
 * until the next call). On any failure it returns slots that are all NaN.
 */
export function sampleSlots(): Float64Array {
  try {
    sampler.sample();
    return sampler.slots; // after sample(), which may have replaced the array
  } catch (error) {
    debug('sample failed: %o', error);
    return UNAVAILABLE;
  }
}

const UNAVAILABLE = new Float64Array(SLOT_COUNT).fill(NaN);

// A snapshot that came through JSON or from another Node version may lack the
// nested objects, or list other heap spaces (or the same in another order):
// repair it once.
function hasStructure(target: Snapshot): boolean {
  return isObject(target.gc) && hasHeapSpaces(target);
}

function hasHeapSpaces(target: Snapshot): boolean {
  const spaces = target.heapSpaces as unknown;
  if (!Array.isArray(spaces) || spaces.length !== heapSpaceNames.length) return false;
  for (let i = 0; i < spaces.length; i++) {
    // On the hot path: no isObject() (a revoked Proxy throws here, which
    // collect() turns into its TypeError).
    const space: unknown = spaces[i];
    if (typeof space !== 'object' || space === null || (space as { name?: unknown }).name !== heapSpaceNames[i]) return false;
  }
  return true;
}

function giveStructure(target: Snapshot): void {
  giveGcStructure(target);
  // Kept when it has this Node's spaces: one that cannot be written (a
  // frozen entry) is the caller's mistake, a TypeError, not replaced behind
  // the back of code that holds the array.
  if (!hasHeapSpaces(target)) target.heapSpaces = heapSpaceNames.map(createHeapSpaceStats);
}

/** Adds the GC kinds `target` lacks (all of gc, if it has none). */
function giveGcStructure(target: Snapshot): void {
  const fresh = createGcStats();
  const gc = isObject(target.gc) ? (target.gc as unknown as Record<string, unknown>) : {};
  for (const kind of Object.keys(fresh) as (keyof typeof fresh)[]) {
    if (!isObject(gc[kind])) gc[kind] = fresh[kind];
  }
  target.gc = gc as unknown as Snapshot['gc'];
}

/**
 * What changed between two snapshots: counters (CPU seconds, context
 * switches, page faults, GC counts, pause seconds, reclaimed bytes) are after
 * minus before; gauges (memory, fds, threads, limits, heap) are taken from
 * `after`. Wrap it around a code section to see what the section cost.
 */
export function diff(before: Snapshot, after: Snapshot, into?: Snapshot): Snapshot {
  checkSnapshotArgument('before', before);
  checkSnapshotArgument('after', after);
  if (into !== undefined && !isFillable(into)) {
    throw new TypeError(`procmeter.diff(before, after, into?): ${INTO_ACCEPTED} or undefined; got ${describeValue(into)}`);
  }
  try {
    return diffInto(before, after, into);
  } catch (error) {
    const call = into === undefined ? 'procmeter.diff(before, after)' : 'procmeter.diff(before, after, into)';
    // A field the checks above do not look at, with a getter that throws;
    // whose it is shows in a diff into a snapshot of procmeter's own.
    if (into === undefined || !readsCleanly(before, after)) {
      throw new TypeError(`${call}: before and after must be snapshots returned by collect(); reading them failed: ${(error as Error)?.message}`, { cause: error });
    }
    // Frozen, sealed, or with read-only fields.
    throw new TypeError(`${call}: into must be a writable snapshot; filling it failed: ${(error as Error)?.message}`, { cause: error });
  }
}

function diffInto(before: Snapshot, after: Snapshot, into: Snapshot | undefined): Snapshot {
  const target = into ?? createSnapshotOf(after.heapSpaces.map((space) => space.name));
  // An into that lacks parts is given them, and one with other heap spaces
  // (from another Node, or cut short) gets after's, as collect(into)
  // repairs a snapshot for its own.
  if (into !== undefined) giveGcStructure(target);
  if (!sameSpaces(target.heapSpaces, after.heapSpaces)) target.heapSpaces = after.heapSpaces.map((space) => createHeapSpaceStats(space.name));
  diffSnapshots(before, after, target);
  return target;
}

function readsCleanly(before: Snapshot, after: Snapshot): boolean {
  try {
    diffInto(before, after, undefined);
    return true;
  } catch {
    return false;
  }
}

// `a` is into's, which may be anything: not an array, with holes or nulls.
function sameSpaces(a: unknown, b: Snapshot['heapSpaces']): boolean {
  if (!Array.isArray(a) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const space: unknown = a[i];
    if (typeof space !== 'object' || space === null || (space as { name?: unknown }).name !== b[i]!.name) return false;
  }
  return true;
}

function checkSnapshotArgument(name: string, value: unknown): asserts value is Snapshot {
  let missing: string | undefined;
  try {
    missing = missingSnapshotPart(value);
  } catch (error) {
    // A getter or Proxy trap that throws.
    throw new TypeError(
      `procmeter.diff(before, after, into?): ${name} must be a snapshot returned by collect(); reading it failed: ${(error as Error)?.message}`,
      { cause: error },
    );
  }
  if (missing !== undefined) {
    throw new TypeError(
      `procmeter.diff(before, after, into?): ${name} must be a snapshot returned by collect(); got ${describeValue(value)}${
        isObject(value) ? ` without ${missing}` : ''
      }`,
    );
  }
}

/** The first part of a snapshot that `value` lacks, or undefined. */
function missingSnapshotPart(value: unknown): string | undefined {
  if (!isObject(value)) return 'an object';
  // null: NaN, in a snapshot that went through JSON
  if (typeof value['cpuUserSeconds'] !== 'number' && value['cpuUserSeconds'] !== null) return 'cpuUserSeconds';
  const gc = value['gc'];
  if (!isObject(gc)) return 'gc';
  const kind = GC_KINDS.find((k) => !isObject(gc[k]));
  if (kind !== undefined) return `gc.${kind}`;
  const spaces = value['heapSpaces'];
  if (!Array.isArray(spaces)) return 'heapSpaces';
  // findIndex() visits the holes of a sparse array (as undefined), which
  // every() would skip.
  const index = (spaces as unknown[]).findIndex((space) => !isObject(space));
  return index === -1 ? undefined : `heapSpaces[${index}]`;
}

/**
 * Moves the GC pauses recorded since the last drain into `out`, as pairs of
 * (index into GC_KINDS, pause seconds), oldest first, and returns how many
 * pauses it moved (at most out.length / 2; call again while it fills `out`).
 * Each pause is returned exactly once, by whichever caller drains it.
 * Pauses that arrived while the ring held `gcPauseRingCapacity` undrained
 * ones were dropped and are counted in Snapshot.gcPausesDropped.
 */
export function drainGcPauses(out: Float64Array): number {
  if (!types.isFloat64Array(out) || typedArrayLength(out) < 2) {
    throw new TypeError(
      `procmeter.drainGcPauses(out): out must be a Float64Array with room for at least one pause (length >= 2); got ${describeValue(out)}${
        types.isFloat64Array(out) ? ` of length ${typedArrayLength(out)}` : ''
      }`,
    );
  }
  try {
    return sampler.drainGcPauses(out);
  } catch (error) {
    debug('drainGcPauses failed: %o', error);
    return 0;
  }
}

/** How many undrained pauses the ring holds before it drops new ones. */
export const gcPauseRingCapacity: number = sampler.pauseRingCapacity;
