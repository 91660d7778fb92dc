// The shapes the native addons and the JavaScript fallbacks share, so the
// rest of procmeter cannot tell them apart.

/**
 * A full sampler: one Float64Array laid out as in native/snapshot_layout.def
 * and one call that refills all of it.
 */
export interface Sampler {
  /**
   * The sampler's own slots (SLOT_COUNT long); sample() overwrites them. Read
   * it after each sample(): a native sampler whose array was detached
   * replaces it.
   */
  readonly slots: Float64Array;
  /** V8's heap space names, in the order of the heap-space slots. */
  readonly heapSpaceNames: readonly string[];
  /** How many GC pauses are kept between drains before some are dropped. */
  readonly pauseRingCapacity: number;
  /** Writes every slot; a value that cannot be read is NaN. Never throws. */
  sample(): void;
  /** Moves recorded GC pauses into `out` as (kind index, seconds) pairs. */
  drainGcPauses(out: Float64Array): number;
}

/** Fills the process slots of its own array. */
export interface ProcessSource {
  readonly slots: Float64Array;
  sample(): void;
}

/** Fills the runtime, GC and heap-space slots of a given array. */
export interface RuntimeSource {
  readonly heapSpaceNames: readonly string[];
  readonly pauseRingCapacity: number;
  sampleInto(slots: Float64Array): void;
  drainGcPauses(out: Float64Array): number;
}
