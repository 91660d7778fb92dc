// Hands every GC pause from this thread's ring to every registered sink
// (one per registerProcessMetrics() call in the thread), so that each
// registration's histogram records each pause exactly once, whichever of
// them happens to drain the ring.
//
// A pause is handed on only once a snapshot has counted its GC: a GC can run
// between reading the counts and draining the ring (V8 also starts GCs at
// function calls, on requests from its background threads, not only when
// JavaScript allocates), and its pause then waits for the next collection.
// So at every export the histogram has counted exactly the GCs the runs
// counter reports, per kind. (Where the ring dropped pauses, or the
// application drains it too, the counts run ahead and nothing waits.)
//
// Like the ring, this state is the thread's: procmeter evaluated again in the
// thread (hot reload) shares it, so that the registrations of every
// evaluation get every pause, and the counts it waits for are the ring's.
import { debuglog } from 'node:util';

import { GC_KINDS, type Snapshot } from '../generated/layout';
import { collect, createSnapshot, drainGcPauses } from '../index';
import { thisFile } from '../bundling';
import { threadResident } from '../thread-resident';

const debug = debuglog('procmeter');

export type PauseSink = (kindIndex: number, seconds: number) => void;

const { sinks, buffer, waiting, handedOn, countedNow } = threadResident(`otel gc pauses:${thisFile}`, () => ({
  sinks: new Set<PauseSink>(),
  buffer: new Float64Array(2 * 512),
  // Per GC kind: pauses drained from the ring and not yet handed on
  // (seconds), and how many have been handed on since procmeter loaded.
  waiting: GC_KINDS.map((): number[] => []),
  handedOn: GC_KINDS.map(() => 0),
  countedNow: createSnapshot(),
}));

// Counts what has happened up to now, for the delivery made when a sink
// comes, which follows the same rule as those at collections.
function countNow(): Snapshot {
  return collect(countedNow);
}

export function addPauseSink(sink: PauseSink): () => void {
  // Pauses from before this registration belong to the sinks already there;
  // with none, the ring kept them (since procmeter loaded) for this one,
  // which records them now: outside a collection, so that the first one
  // exports them (see pause-histogram.ts).
  const first = sinks.size === 0;
  if (!first) deliverPauses(countNow());
  sinks.add(sink);
  if (first) deliverPauses(countNow());
  // A sink that goes takes nothing more: its registration's GC counters
  // stopped at its last reading, whose pauses it has had. Later ones stay
  // for the other sinks, or in the ring for a registration made later.
  return () => void sinks.delete(sink);
}

function drainRing(): void {
  for (let moved; (moved = drainGcPauses(buffer)) > 0; ) {
    for (let i = 0; i < moved; i++) waiting[buffer[2 * i]!]?.push(buffer[2 * i + 1]!);
  }
}

/** Drains the ring and hands every pause whose GC `counted` includes to every sink. */
export function deliverPauses(counted: Snapshot): void {
  // With no sink (only registrations without the gc group), the ring keeps
  // its pauses: for a registration with it made later, and for an
  // application that drains the ring itself.
  if (sinks.size === 0) return;
  drainRing();
  const list = [...sinks];
  GC_KINDS.forEach((kind, kindIndex) => {
    const queue = waiting[kindIndex]!;
    const count = counted.gc[kind].count;
    // Counts below those already handed on started again: procmeter was
    // evaluated again in this thread on another sampler (the fallback,
    // counting from its own start). Go on from the new counts, rather than
    // keep every pause from now on waiting for GCs that will never be counted.
    if (count < handedOn[kindIndex]!) handedOn[kindIndex] = Math.max(0, count - queue.length);
    // NaN: no counts (GC tracking off), so nothing to wait for.
    const deliverable = Number.isNaN(count) ? queue.length : Math.min(queue.length, count - handedOn[kindIndex]!);
    if (deliverable <= 0) return;
    handedOn[kindIndex]! += deliverable;
    for (const seconds of queue.splice(0, deliverable)) {
      // A sink that throws must not cost the others (or itself) the rest
      // of what was already taken from the ring.
      for (const sink of list) {
        try {
          sink(kindIndex, seconds);
        } catch (error) {
          debug('recording a GC pause failed: %o', error);
        }
      }
    }
  });
}
