// V8 heap figures from the `v8` module, for when no native binary reads them.
import { getHeapSpaceStatistics, getHeapStatistics, type HeapInfo } from 'node:v8';

import { HEAP_SPACE_FIELD_COUNT, HEAP_SPACE_SLOTS_BEGIN, MAX_HEAP_SPACES, SLOT, SLOT_COUNT } from '../generated/layout';

export class HeapReader {
  readonly heapSpaceNames: readonly string[];

  constructor() {
    this.heapSpaceNames = getHeapSpaceStatistics()
      .slice(0, MAX_HEAP_SPACES)
      .map((space) => space.space_name);
  }

  /** Writes the heap slots (not gcPausesDropped, not the GC slots). */
  sampleInto(slots: Float64Array): void {
    const heap = getHeapStatistics() as HeapInfo & { external_memory?: number };
    slots[SLOT.heapTotalBytes] = heap.total_heap_size;
    slots[SLOT.heapUsedBytes] = heap.used_heap_size;
    slots[SLOT.heapAvailableBytes] = heap.total_available_size;
    slots[SLOT.heapPhysicalBytes] = heap.total_physical_size;
    slots[SLOT.heapExecutableBytes] = heap.total_heap_size_executable;
    slots[SLOT.heapLimitBytes] = heap.heap_size_limit;
    slots[SLOT.mallocedMemoryBytes] = heap.malloced_memory;
    slots[SLOT.peakMallocedMemoryBytes] = heap.peak_malloced_memory;
    slots[SLOT.externalMemoryBytes] = heap.external_memory ?? NaN;
    slots[SLOT.nativeContexts] = heap.number_of_native_contexts;
    slots[SLOT.detachedContexts] = heap.number_of_detached_contexts;

    slots.fill(NaN, HEAP_SPACE_SLOTS_BEGIN, SLOT_COUNT);
    const spaces = getHeapSpaceStatistics();
    for (let i = 0; i < spaces.length && i < this.heapSpaceNames.length; i++) {
      const space = spaces[i]!;
      const base = HEAP_SPACE_SLOTS_BEGIN + i * HEAP_SPACE_FIELD_COUNT;
      slots[base] = space.space_size;
      slots[base + 1] = space.space_used_size;
      slots[base + 2] = space.space_available_size;
      slots[base + 3] = space.physical_space_size;
    }
  }
}
