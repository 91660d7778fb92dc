// collect() and diff(): the hot-path API over the chosen sampler.
import { debuglog } from 'node:util';

import {
  SLOT_COUNT,
  createProcessSnapshot,
  diffProcessSnapshots,
  readProcessSlots,
  type ProcessSnapshot,
} from './generated/layout';
import { processSampler } from './implementation';
import { describeValue, isObject } from './validate';

/** One reading of the process and runtime. A value not available here is NaN. */
export type Snapshot = ProcessSnapshot;

const debug = debuglog('procmeter');

/** A new snapshot with every field NaN, to pass to collect(into) later. */
export function createSnapshot(): Snapshot {
  return createProcessSnapshot();
}

/**
 * Reads the process now. Without an argument, returns a new snapshot; with
 * one, refills it and returns it (the hot-path form: no allocation).
 */
export function collect(into?: Snapshot): Snapshot {
  let target: Snapshot;
  if (into === undefined) {
    target = createProcessSnapshot();
  } else if (isObject(into)) {
    target = into;
  } else {
    throw new TypeError(
      `procmeter.collect(into): into must be a snapshot object (from collect() or createSnapshot()) or undefined; got ${describeValue(into)}`,
    );
  }
  readProcessSlots(target, sampleSlots());
  return target;
}

/**
 * Takes one reading into the sampler's own slots and returns them (valid
 * until the next call). On any failure the slots hold NaN.
 */
export function sampleSlots(): Float64Array {
  const slots = processSampler.slots;
  try {
    processSampler.sample();
  } catch (error) {
    slots.fill(NaN, 0, SLOT_COUNT);
    debug('sample failed: %o', error);
  }
  return slots;
}

/**
 * What changed between two snapshots: counters (CPU seconds, context
 * switches, page faults) are after minus before; gauges (memory, fds,
 * threads, limits, start time) are taken from `after`. Wrap it around a code
 * section to see what the section cost.
 */
export function diff(before: Snapshot, after: Snapshot, into?: Snapshot): Snapshot {
  checkSnapshotArgument('before', before);
  checkSnapshotArgument('after', after);
  let target: Snapshot;
  if (into === undefined) target = createProcessSnapshot();
  else {
    checkSnapshotArgument('into', into);
    target = into;
  }
  diffProcessSnapshots(before, after, target);
  return target;
}

function checkSnapshotArgument(name: string, value: unknown): asserts value is Snapshot {
  if (!isObject(value) || typeof value['cpuUserSeconds'] !== 'number') {
    throw new TypeError(
      `procmeter.diff(before, after): ${name} must be a snapshot returned by collect(); got ${describeValue(value)}${
        isObject(value) ? ' without snapshot fields' : ''
      }`,
    );
  }
}
