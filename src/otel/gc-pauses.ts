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
import { debuglog } from 'node:util';

import { GC_KINDS, type Snapshot } from '../generated/layout';
import { collect, createSnapshot, drainGcPauses } from '../index';

const debug = debuglog('procmeter');

export type PauseSink = (kindIndex: number, seconds: number) => void;

const sinks = new Set<PauseSink>();
const buffer = new Float64Array(2 * 512);
// Per GC kind: pauses drained from the ring and not yet handed on (seconds),
// and how many have been handed on since procmeter loaded.
const waiting: number[][] = GC_KINDS.map(() => []);
const handedOn: number[] = GC_KINDS.map(() => 0);

// Counts what has happened up to now, for the deliveries made when a sink
// comes or goes, which follow the same rule as those at collections.
let countedNow: Snapshot | undefined;
function countNow(): Snapshot {
  return collect((countedNow ??= createSnapshot()));
}

export function addPauseSink(sink: PauseSink): () => void {
  // Pauses from before this registration belong to the sinks already there;
  // with none, the ring keeps them (since procmeter loaded) for this one.
  if (sinks.size > 0) deliverPauses(countNow());
  sinks.add(sink);
  return () => {
    try {
      deliverPauses(countNow());
    } finally {
      sinks.delete(sink);
    }
  };
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
