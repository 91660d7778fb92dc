/**
 * What the native addon and the JavaScript fallback both provide: a
 * Float64Array laid out as in native/snapshot_layout.def, and one call that
 * refills it. The rest of procmeter cannot tell them apart.
 */
export interface ProcessSampler {
  /** The sampler's own slots; sample() overwrites them. */
  readonly slots: Float64Array;
  /** Writes every slot; a value that cannot be read is NaN. Never throws. */
  sample(): void;
}
