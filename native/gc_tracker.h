// Per-isolate GC statistics kept by V8 GC prologue/epilogue callbacks.
#ifndef PROCMETER_GC_TRACKER_H_
#define PROCMETER_GC_TRACKER_H_

#include <v8.h>

#include <cstddef>
#include <cstdint>

#include "heap_sampler.h"
#include "pause_ring.h"
#include "snapshot_layout.h"

namespace procmeter {

// Counts, pause time and reclaimed bytes per GC kind, plus a ring of recent
// pauses. The callbacks do a clock read and a heap-size read each; their own
// code never allocates, takes no lock and never calls into JavaScript (the
// heap-size read, V8's GetHeapSpaceStatistics, takes a V8 mutex inside each
// paged space's Available()); the totals are plain fields that collect()
// copies out.
class GcTracker {
 public:
  static constexpr size_t kPauseRingCapacity = 4096;

  GcTracker(v8::Isolate* isolate, HeapSampler* heap);
  ~GcTracker();
  GcTracker(const GcTracker&) = delete;
  GcTracker& operator=(const GcTracker&) = delete;

  void Install();
  // Must run outside a GC: from an environment cleanup hook, not a finalizer.
  void Uninstall();

  // Writes the GC slots and GC_PAUSES_DROPPED.
  void Read(double* slots) const;

  // Writes NaN into the same slots, for when no GCs are tracked.
  static void WriteUntracked(double* slots);

  // Moves up to `max_pauses` pauses into `out` as (kind, seconds) pairs.
  size_t DrainPauses(double* out, size_t max_pauses) { return ring_.Drain(out, max_pauses); }

 private:
  static void OnPrologue(v8::Isolate* isolate, v8::GCType type, v8::GCCallbackFlags flags, void* data);
  static void OnEpilogue(v8::Isolate* isolate, v8::GCType type, v8::GCCallbackFlags flags, void* data);

  struct KindState {
    uint64_t count = 0;
    uint64_t pause_ns = 0;
    uint64_t reclaimed_bytes = 0;
    uint64_t started_ns = 0;
    size_t used_before = 0;
    // The spaces read before the GC, to read again after it.
    HeapSampler::GcScope scope = HeapSampler::GcScope::kWholeHeap;
    bool in_progress = false;
  };

  v8::Isolate* isolate_;
  HeapSampler* heap_;
  bool installed_ = false;
  KindState kinds_[kGcKindCount];
  uint64_t dropped_pauses_ = 0;
  PauseRing<kPauseRingCapacity> ring_;
};

}  // namespace procmeter

#endif  // PROCMETER_GC_TRACKER_H_
