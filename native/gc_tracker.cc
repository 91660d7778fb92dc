#include "gc_tracker.h"

#include <time.h>

#include <limits>

namespace procmeter {
namespace {

uint64_t MonotonicNs() {
  struct timespec now = {};  // CLOCK_MONOTONIC does not fail on Linux; never read unset
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

// V8 passes one GCType bit per callback. The minor mark-sweep bit was named
// kGCTypeMinorMarkCompact before V8 12 and kGCTypeMinorMarkSweep after, so it
// is taken as the bit of kGCTypeAll that none of the stable names covers.
// Returns kGcKindCount for a type this build does not know.
size_t KindOf(v8::GCType type) {
  constexpr int kNamed = v8::kGCTypeScavenge | v8::kGCTypeMarkSweepCompact |
                         v8::kGCTypeIncrementalMarking | v8::kGCTypeProcessWeakCallbacks;
  constexpr int kMinorMarkSweep = v8::kGCTypeAll & ~kNamed;
  // A V8 with a GC type this build does not name would make it several bits
  // and minor mark-sweeps would go uncounted: fail the build instead.
  static_assert(kMinorMarkSweep != 0 && (kMinorMarkSweep & (kMinorMarkSweep - 1)) == 0,
                "kGCTypeAll has more than one unnamed GC type bit");
  switch (static_cast<int>(type)) {
    case v8::kGCTypeScavenge:
      return GC_KIND_SCAVENGE;
    case kMinorMarkSweep:
      return GC_KIND_MINOR_MARK_SWEEP;
    case v8::kGCTypeMarkSweepCompact:
      return GC_KIND_MARK_SWEEP_COMPACT;
    case v8::kGCTypeIncrementalMarking:
      return GC_KIND_INCREMENTAL_MARKING;
    case v8::kGCTypeProcessWeakCallbacks:
      return GC_KIND_PROCESS_WEAK_CALLBACKS;
    default:
      return kGcKindCount;
  }
}

HeapSampler::GcScope ScopeOf(size_t kind) {
  return kind == GC_KIND_SCAVENGE || kind == GC_KIND_MINOR_MARK_SWEEP ? HeapSampler::GcScope::kYoungGeneration
                                                                       : HeapSampler::GcScope::kWholeHeap;
}

}  // namespace

GcTracker::GcTracker(v8::Isolate* isolate, HeapSampler* heap) : isolate_(isolate), heap_(heap) {}

GcTracker::~GcTracker() { Uninstall(); }

void GcTracker::Install() {
  if (installed_) return;
  isolate_->AddGCPrologueCallback(OnPrologue, this, v8::kGCTypeAll);
  isolate_->AddGCEpilogueCallback(OnEpilogue, this, v8::kGCTypeAll);
  installed_ = true;
}

void GcTracker::Uninstall() {
  if (!installed_) return;
  isolate_->RemoveGCPrologueCallback(OnPrologue, this);
  isolate_->RemoveGCEpilogueCallback(OnEpilogue, this);
  installed_ = false;
}

void GcTracker::OnPrologue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  auto* self = static_cast<GcTracker*>(data);
  const size_t kind = KindOf(type);
  if (kind == kGcKindCount) return;
  KindState& state = self->kinds_[kind];
  size_t used = 0;
  self->heap_->UsedHeapBytesBeforeGc(ScopeOf(kind), &state.scope, &used);
  state.used_before = used;
  state.in_progress = true;
  state.started_ns = MonotonicNs();  // last, so the heap read is not timed
}

void GcTracker::OnEpilogue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  const uint64_t ended_ns = MonotonicNs();  // first, for the same reason
  auto* self = static_cast<GcTracker*>(data);
  const size_t kind = KindOf(type);
  if (kind == kGcKindCount) return;
  KindState& state = self->kinds_[kind];
  // An epilogue without its prologue (installed mid-GC) counts, with no time.
  const uint64_t pause_ns = state.in_progress && ended_ns > state.started_ns ? ended_ns - state.started_ns : 0;
  size_t used_after = 0;
  if (state.in_progress && self->heap_->UsedHeapBytes(state.scope, &used_after) && state.used_before > used_after) {
    state.reclaimed_bytes += state.used_before - used_after;
  }
  state.in_progress = false;
  state.count += 1;
  state.pause_ns += pause_ns;
  if (!self->ring_.Push(GcPause{pause_ns, static_cast<uint32_t>(kind)})) self->dropped_pauses_ += 1;
}

void GcTracker::Read(double* slots) const {
  // Without trusted heap figures the used-heap reads fail: nothing reclaimed
  // is known (the heap sampler decides that once, at construction).
  const bool reclaimed_known = heap_->trusted();
  for (size_t kind = 0; kind < kGcKindCount; ++kind) {
    const KindState& state = kinds_[kind];
    const auto k = static_cast<GcKind>(kind);
    slots[GcSlot(k, GC_FIELD_COUNT)] = static_cast<double>(state.count);
    slots[GcSlot(k, GC_FIELD_SECONDS)] = static_cast<double>(state.pause_ns) / 1e9;
    slots[GcSlot(k, GC_FIELD_RECLAIMED_BYTES)] =
        reclaimed_known ? static_cast<double>(state.reclaimed_bytes) : std::numeric_limits<double>::quiet_NaN();
  }
  slots[GC_PAUSES_DROPPED] = static_cast<double>(dropped_pauses_);
}

void GcTracker::WriteUntracked(double* slots) {
  for (size_t slot = kGcSlotsBegin; slot < kHeapSpaceSlotsBegin; ++slot) {
    slots[slot] = std::numeric_limits<double>::quiet_NaN();
  }
  slots[GC_PAUSES_DROPPED] = std::numeric_limits<double>::quiet_NaN();
}

}  // namespace procmeter
