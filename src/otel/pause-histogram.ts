// Records GC pauses into the registrations' synchronous histograms so that
// no exported point starts after it ends.
//
// In observable mode the pauses are handed on during a collection, from a
// batch callback. The SDK stamps a collection's end time before it runs the
// callbacks, and starts a histogram series that has nothing yet in the
// current window at the record that opens it: a pause recorded during the
// collection would export a point whose start is after its end (in
// cumulative temporality at a kind's first pause, in delta at every
// collection where a kind had no pause in the window before), which OTLP
// backends may reject. Nothing is recorded between collections in
// observable mode, so a series never has anything in the window then.
//
// So from the start of any registration's callback in the thread (every
// sink gets every pause, and two registrations may share a provider) until
// the next turn of the event loop (a setImmediate: the SDK has collected
// procmeter's meter by then, in microtasks, its callbacks being
// synchronous), pauses are held, and recorded then, for the next
// collection to export. An explicit update() or shutdown() records them at
// once: it comes from outside the collections, and a flush or shutdown of
// the provider may follow it in the same turn. Outside collections (push
// mode's updates, the handing on when a registration comes) every pause is
// recorded at once.
import { debuglog } from 'node:util';

import { thisFile } from '../bundling';
import { threadResident } from '../thread-resident';
import type { PauseSink } from './gc-pauses';

const debug = debuglog('procmeter');

// Shared with procmeter evaluated again in the thread, as gc-pauses.ts's
// sinks are: one evaluation's callback hands pauses to the other's sinks.
const state = threadResident(`otel pause histograms:${thisFile}`, () => ({
  collecting: false,
  afterCollectionScheduled: false,
  // Per histogram with pauses held, the function that records them.
  holding: new Set<() => void>(),
}));

/** `recordPause`, holding each pause while a collection is under way in the thread. */
export function holdingDuringCollections(recordPause: PauseSink): PauseSink {
  // (kind index, seconds) pairs, in the order the ring gave them.
  let held: number[] = [];
  const recordHeld = () => {
    const pairs = held;
    held = [];
    for (let i = 0; i < pairs.length; i += 2) {
      try {
        recordPause(pairs[i]!, pairs[i + 1]!);
      } catch (error) {
        // An application's MeterProvider that throws: from the setImmediate
        // it would reach the application as an uncaught exception.
        debug('recording a GC pause failed: %o', error);
      }
    }
  };
  return (kindIndex, seconds) => {
    // At once (deliverPauses() catches what a sink throws), unless held.
    if (!state.collecting) return recordPause(kindIndex, seconds);
    held.push(kindIndex, seconds);
    state.holding.add(recordHeld);
  };
}

/** A registration's batch callback starts: pauses are held until the next turn. */
export function collectionStarted(): void {
  state.collecting = true;
  if (state.afterCollectionScheduled) return;
  state.afterCollectionScheduled = true;
  // Unref'd: a collection in a beforeExit listener must not keep the
  // process going (a new turn, then beforeExit again). A process that ends
  // before it runs loses what was held: update() records it first.
  setImmediate(() => {
    state.afterCollectionScheduled = false;
    recordHeldPauses();
  }).unref();
}

/**
 * Records the held pauses now: for an update() or shutdown() made outside
 * the collections, which a flush of the provider may follow in this turn.
 */
export function recordHeldPauses(): void {
  state.collecting = false;
  for (const recordHeld of state.holding) {
    state.holding.delete(recordHeld);
    recordHeld();
  }
}
