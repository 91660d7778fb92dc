// GC counts and pauses from PerformanceObserver('gc'), for when no native
// binary tracks them. Costs more than the native callbacks (an entry object
// per GC, delivered in batches on a later tick) and cannot see reclaimed
// bytes, which stay NaN.
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

import { GC_FIELD_COUNT, GC_KINDS, GC_SLOTS_BEGIN, SLOT } from '../generated/layout';
import { typedArrayLength } from '../validate';

// perf_hooks reports V8's GCType bit as detail.kind (2, minor mark-sweep, has
// no named constant in older Node).
const KIND_INDEX_BY_GC_TYPE = new Map<number, number>([
  [1, GC_KINDS.indexOf('scavenge')],
  [2, GC_KINDS.indexOf('minorMarkSweep')],
  [4, GC_KINDS.indexOf('markSweepCompact')],
  [8, GC_KINDS.indexOf('incrementalMarking')],
  [16, GC_KINDS.indexOf('processWeakCallbacks')],
]);

export const PAUSE_RING_CAPACITY = 4096;

export class GcObserver {
  readonly pauseRingCapacity = PAUSE_RING_CAPACITY;
  private readonly counts = new Float64Array(GC_KINDS.length);
  private readonly seconds = new Float64Array(GC_KINDS.length);
  // (kind index, seconds) pairs; written counts pushes, read counts drains.
  private readonly ring = new Float64Array(2 * PAUSE_RING_CAPACITY);
  private written = 0;
  private read = 0;
  private dropped = 0;
  private readonly observer: PerformanceObserver;

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      // Every entry of every batch: a burst of GCs arrives as one batch.
      for (const entry of list.getEntries()) this.record(entry);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  private record(entry: PerformanceEntry): void {
    // detail.kind, not the deprecated entry.kind (which warns at run time).
    const gcType = (entry as PerformanceEntry & { detail?: { kind?: number } | null }).detail?.kind;
    const kind = gcType === undefined ? undefined : KIND_INDEX_BY_GC_TYPE.get(gcType);
    if (kind === undefined) return;
    const seconds = entry.duration / 1000;
    this.counts[kind]! += 1;
    this.seconds[kind]! += seconds;
    if (this.written - this.read === PAUSE_RING_CAPACITY) {
      this.dropped += 1;
      return;
    }
    const at = 2 * (this.written % PAUSE_RING_CAPACITY);
    this.ring[at] = kind;
    this.ring[at + 1] = seconds;
    this.written += 1;
  }

  /** Writes the GC slots and gcPausesDropped. */
  readInto(slots: Float64Array): void {
    // Node makes a GC's entry on the next check phase and hands the batch
    // to the callback on one after that: entries made but not yet handed
    // over are taken now (the callback then gets only newer ones).
    for (const entry of this.observer.takeRecords()) this.record(entry);
    for (let kind = 0; kind < GC_KINDS.length; kind++) {
      const base = GC_SLOTS_BEGIN + kind * GC_FIELD_COUNT;
      slots[base] = this.counts[kind]!;
      slots[base + 1] = this.seconds[kind]!;
      slots[base + 2] = NaN; // reclaimed bytes: not observable from perf_hooks
    }
    slots[SLOT.gcPausesDropped] = this.dropped;
  }

  /** Writes NaN into the same slots, for when no GCs are tracked. */
  static writeUntracked(slots: Float64Array): void {
    slots.fill(NaN, GC_SLOTS_BEGIN, GC_SLOTS_BEGIN + GC_KINDS.length * GC_FIELD_COUNT);
    slots[SLOT.gcPausesDropped] = NaN;
  }

  drainGcPauses(out: Float64Array): number {
    // As readInto(): pauses whose entries are made but not handed over yet
    // are drained now, not one turn after collect() counted them.
    for (const entry of this.observer.takeRecords()) this.record(entry);
    let moved = 0;
    const room = typedArrayLength(out) >> 1;
    while (this.read !== this.written && moved < room) {
      const at = 2 * (this.read % PAUSE_RING_CAPACITY);
      out[2 * moved] = this.ring[at]!;
      out[2 * moved + 1] = this.ring[at + 1]!;
      this.read += 1;
      moved += 1;
    }
    return moved;
  }
}
