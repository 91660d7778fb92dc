// V8 heap statistics for one isolate, read natively into the snapshot slots.
#ifndef PROCMETER_HEAP_SAMPLER_H_
#define PROCMETER_HEAP_SAMPLER_H_

#include <v8.h>

#include <cstddef>

#include "snapshot_layout.h"
#include "young_spaces.h"

namespace procmeter {

// v8::HeapStatistics and v8::HeapSpaceStatistics grow between V8 versions.
// V8's own constructor and getter write its layout of the struct, so they
// are always given room beyond the size this binary was compiled with. At
// construction that room is filled with a known pattern and checked: if V8
// wrote into it, the layouts differ and the numbers are never trusted.
class HeapSampler {
 public:
  explicit HeapSampler(v8::Isolate* isolate);

  // False when V8's structs turned out larger than this build's headers say,
  // or when it has more heap spaces than the snapshot layout holds; the
  // heap slots are then NaN and JavaScript reads the v8 module instead.
  bool trusted() const { return trusted_; }
  size_t space_count() const { return space_count_; }
  const char* space_name(size_t index) const { return space_names_[index]; }

  // Writes the runtime heap slots and the heap-space slots.
  void Sample(double* slots);

  // From now on the heap slots are NaN and the GC callbacks read no heap:
  // for when JavaScript's cross-check finds the figures wrong.
  void Distrust() { MarkUntrusted(); }

  // Writes NaN into the same slots, for when there is no heap sampler.
  static void WriteUnavailable(double* slots);

  // Which spaces a GC can change the used size of.
  enum class GcScope {
    kWholeHeap,
    // A minor GC (scavenge, minor mark-sweep) frees the young generation and
    // moves survivors into the old and large-object spaces; nothing else.
    kYoungGeneration,
    // A minor GC that finds no young large objects: only new and old space.
    kYoungSmallObjects,
  };

  // Used heap bytes summed over the spaces `scope` can change, for the GC
  // callbacks; false if untrusted. The difference before and after a GC
  // (the bytes it reclaimed) is then the same as V8's used_heap_size's: the
  // spaces left out do not change during the GC (nor does the read-only
  // space, which used_heap_size leaves out). Per-space reads skip the rest
  // of GetHeapStatistics (malloced memory, contexts, committed sizes), which
  // made each callback's read about 40% dearer, and a minor GC, nearly all
  // GCs, reads 2 to 4 spaces rather than 9 or more.
  bool UsedHeapBytes(GcScope scope, size_t* used);

  // The same, for a GC's prologue: also says which scope to read after the
  // GC (`scope`, narrowed to kYoungSmallObjects when a minor GC finds the
  // young large-object space empty).
  bool UsedHeapBytesBeforeGc(GcScope scope, GcScope* read_after, size_t* used);

 private:
  void MarkUntrusted();
  bool SpaceUsedBytes(size_t index, size_t* used);

  v8::Isolate* isolate_;
  size_t space_count_ = 0;
  const char* space_names_[kMaxHeapSpaces] = {};
  // V8's space indices of the YoungSpaces (young_spaces.h): the first
  // kYoungSmallObjectSpaces are those of kYoungSmallObjects, all of them
  // those of kYoungGeneration. Unknown (every space is read) if V8 names
  // its spaces otherwise.
  size_t young_spaces_[kYoungSpaceCount] = {};
  bool young_spaces_known_ = false;
  bool trusted_ = true;
};

}  // namespace procmeter

#endif  // PROCMETER_HEAP_SAMPLER_H_
