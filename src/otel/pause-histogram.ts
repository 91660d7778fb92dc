// Records GC pauses into a registration's synchronous histogram so that no
// exported point starts after it ends.
//
// In observable mode the pauses are handed on during a collection, from the
// batch callback. The SDK stamps a collection's end time before it runs the
// callbacks, and starts a histogram series that has nothing yet in the
// current window at the record that opens it: a pause recorded inside the
// callback would export a point whose start is after its end (in cumulative
// temporality at a kind's first pause, in delta at every collection where a
// kind had no pause in the window before), which OTLP backends may reject.
// Nothing is recorded between collections in observable mode, so a series
// never has anything in the window when the callback runs. So the pauses
// handed on during a collection are recorded just after it (a setImmediate;
// the SDK has taken the window by then) and exported at the next one.
// Outside collections (push mode's updates, observable mode's update(), the
// handing on when a registration comes) they are recorded at once.
import { debuglog } from 'node:util';

const debug = debuglog('procmeter');

export interface PauseHistogram {
  /** Records one pause, or holds it until the collection under way is over. */
  record(kindIndex: number, seconds: number): void;
  /** The registration's batch callback started: a collection is under way. */
  collectionStarted(): void;
  /** The callback returned: records what it held once the collection is done. */
  collectionEnded(): void;
  /** Records what is held now, unless a collection is under way (then its end does). */
  flush(): void;
}

export function pauseHistogram(recordPause: (kindIndex: number, seconds: number) => void): PauseHistogram {
  // (kind index, seconds) pairs, in the order the ring gave them.
  let held: number[] = [];
  let collecting = false;
  let afterCollectionScheduled = false;

  const write = (kindIndex: number, seconds: number) => {
    try {
      recordPause(kindIndex, seconds);
    } catch (error) {
      // An application's MeterProvider that throws; from a setImmediate it
      // would reach the application as an uncaught exception.
      debug('recording a GC pause failed: %o', error);
    }
  };
  const recordHeld = () => {
    const pairs = held;
    held = [];
    for (let i = 0; i < pairs.length; i += 2) write(pairs[i]!, pairs[i + 1]!);
  };
  const afterCollection = () => {
    afterCollectionScheduled = false;
    collecting = false;
    recordHeld();
  };

  return {
    record(kindIndex, seconds) {
      if (collecting) held.push(kindIndex, seconds);
      else write(kindIndex, seconds);
    },
    collectionStarted() {
      collecting = true;
    },
    collectionEnded() {
      // Also with nothing held: another registration's callback later in the
      // same collection may hand pauses on. Not unref'd: it runs in the next
      // turn and keeps nothing alive after it. The SDK's collection goes on
      // in microtasks once the callbacks return, so it is over by then.
      if (afterCollectionScheduled) return;
      afterCollectionScheduled = true;
      setImmediate(afterCollection);
    },
    flush() {
      if (!collecting) recordHeld();
    },
  };
}
