// Hands every GC pause from this thread's ring to every registered sink
// (one per registerProcessMetrics() call in the thread), so that each
// registration's histogram records each pause exactly once, whichever of
// them happens to drain the ring.
import { debuglog } from 'node:util';

import { drainGcPauses } from '../index';

const debug = debuglog('procmeter');

export type PauseSink = (kindIndex: number, seconds: number) => void;

const sinks = new Set<PauseSink>();
const buffer = new Float64Array(2 * 512);

export function addPauseSink(sink: PauseSink): () => void {
  // Pauses from before this registration belong to the sinks already there;
  // with none, the ring keeps them (since procmeter loaded) for this one.
  if (sinks.size > 0) drainAll();
  sinks.add(sink);
  return () => {
    try {
      drainAll();
    } finally {
      sinks.delete(sink);
    }
  };
}

function drainInto(targets: Iterable<PauseSink>): void {
  const list = [...targets];
  for (let moved; (moved = drainGcPauses(buffer)) > 0; ) {
    for (let i = 0; i < moved; i++) {
      const kind = buffer[2 * i]!;
      const seconds = buffer[2 * i + 1]!;
      // A sink that throws must not cost the others (or itself) the rest
      // of what was already taken from the ring.
      for (const sink of list) {
        try {
          sink(kind, seconds);
        } catch (error) {
          debug('recording a GC pause failed: %o', error);
        }
      }
    }
  }
}

export function drainAll(): void {
  drainInto(sinks);
}
