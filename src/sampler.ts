/**
 * What the native addon and the JavaScript fallback both provide: one call
 * that writes a full reading into a caller-owned Float64Array laid out as in
 * native/snapshot_layout.def. The rest of procmeter cannot tell them apart.
 */
export interface ProcessSampler {
  /** Writes every slot; a value that cannot be read is NaN. Never throws. */
  sample(slots: Float64Array): void;
}
