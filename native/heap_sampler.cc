#include "heap_sampler.h"

#include <cstring>
#include <limits>
#include <new>

namespace procmeter {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kGuardBytes = 256;
constexpr unsigned char kGuardPattern = 0xA5;

// Storage for a V8 statistics struct with spare room after it. The room is
// always there; only the first use per isolate fills and checks it (V8's
// struct size cannot change while the process runs), which keeps the check
// off the hot path.
template <typename T>
class Guarded {
 public:
  // Runs V8's constructor (which zeroes V8's idea of the struct).
  T* Construct() { return new (storage_) T(); }

  T* ConstructWithGuard() {
    std::memset(storage_ + sizeof(T), kGuardPattern, kGuardBytes);
    return Construct();
  }

  bool GuardIntact() const {
    for (size_t i = sizeof(T); i < sizeof(T) + kGuardBytes; ++i) {
      if (storage_[i] != kGuardPattern) return false;
    }
    return true;
  }

 private:
  alignas(alignof(std::max_align_t)) unsigned char storage_[sizeof(T) + kGuardBytes];
};

double AsDouble(size_t value) { return static_cast<double>(value); }

}  // namespace

HeapSampler::HeapSampler(v8::Isolate* isolate) : isolate_(isolate) {
  const size_t spaces = isolate_->NumberOfHeapSpaces();
  if (spaces > kMaxHeapSpaces) {
    MarkUntrusted();
    return;
  }
  for (size_t i = 0; i < spaces; ++i) {
    Guarded<v8::HeapSpaceStatistics> guarded;
    v8::HeapSpaceStatistics* stats = guarded.ConstructWithGuard();
    if (!isolate_->GetHeapSpaceStatistics(stats, i) || !guarded.GuardIntact()) {
      MarkUntrusted();
      return;
    }
    space_names_[i] = stats->space_name();  // static strings inside V8
  }
  young_spaces_known_ = FindYoungSpaces(space_names_, spaces, young_spaces_);
  Guarded<v8::HeapStatistics> guarded;
  isolate_->GetHeapStatistics(guarded.ConstructWithGuard());
  if (!guarded.GuardIntact()) {
    MarkUntrusted();
    return;
  }
  space_count_ = spaces;
}

void HeapSampler::MarkUntrusted() {
  trusted_ = false;
  space_count_ = 0;
}

bool HeapSampler::SpaceUsedBytes(size_t index, size_t* used) {
  Guarded<v8::HeapSpaceStatistics> guarded;
  v8::HeapSpaceStatistics* space = guarded.Construct();
  if (!isolate_->GetHeapSpaceStatistics(space, index)) return false;
  *used = space->space_used_size();
  return true;
}

bool HeapSampler::UsedHeapBytes(GcScope scope, size_t* used) {
  if (!trusted_) return false;
  const bool young = scope != GcScope::kWholeHeap && young_spaces_known_;
  const size_t count = !young ? space_count_ : scope == GcScope::kYoungSmallObjects ? kYoungSmallObjectSpaces : kYoungSpaceCount;
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t space_used = 0;
    if (!SpaceUsedBytes(young ? young_spaces_[i] : i, &space_used)) return false;
    total += space_used;
  }
  *used = total;
  return true;
}

bool HeapSampler::UsedHeapBytesBeforeGc(GcScope scope, GcScope* read_after, size_t* used) {
  *read_after = scope;
  if (!trusted_) return false;
  if (scope != GcScope::kYoungGeneration || !young_spaces_known_) return UsedHeapBytes(scope, used);
  // Nearly every minor GC finds the young large-object space empty: then it
  // cannot change it, nor the large-object space, which only it moves
  // objects into, and new and old space are all there is to read.
  size_t young_large_objects = 0;
  if (!SpaceUsedBytes(young_spaces_[kNewLargeObjectSpace], &young_large_objects)) return false;
  size_t large_objects = 0;
  if (young_large_objects > 0 && !SpaceUsedBytes(young_spaces_[kLargeObjectSpace], &large_objects)) return false;
  if (young_large_objects == 0) *read_after = GcScope::kYoungSmallObjects;
  size_t small_objects = 0;
  if (!UsedHeapBytes(GcScope::kYoungSmallObjects, &small_objects)) return false;
  *used = small_objects + young_large_objects + large_objects;
  return true;
}

void HeapSampler::WriteUnavailable(double* slots) {
  for (size_t slot = HEAP_TOTAL_BYTES; slot <= DETACHED_CONTEXTS; ++slot) slots[slot] = kNaN;
  for (size_t slot = kHeapSpaceSlotsBegin; slot < kSlotCount; ++slot) slots[slot] = kNaN;
}

void HeapSampler::Sample(double* slots) {
  if (!trusted_) {
    WriteUnavailable(slots);
    return;
  }

  Guarded<v8::HeapStatistics> guarded;
  v8::HeapStatistics* stats = guarded.Construct();
  isolate_->GetHeapStatistics(stats);
  slots[HEAP_TOTAL_BYTES] = AsDouble(stats->total_heap_size());
  slots[HEAP_USED_BYTES] = AsDouble(stats->used_heap_size());
  slots[HEAP_AVAILABLE_BYTES] = AsDouble(stats->total_available_size());
  slots[HEAP_PHYSICAL_BYTES] = AsDouble(stats->total_physical_size());
  slots[HEAP_EXECUTABLE_BYTES] = AsDouble(stats->total_heap_size_executable());
  slots[HEAP_LIMIT_BYTES] = AsDouble(stats->heap_size_limit());
  slots[MALLOCED_MEMORY_BYTES] = AsDouble(stats->malloced_memory());
  slots[PEAK_MALLOCED_MEMORY_BYTES] = AsDouble(stats->peak_malloced_memory());
  slots[EXTERNAL_MEMORY_BYTES] = AsDouble(stats->external_memory());
  slots[NATIVE_CONTEXTS] = AsDouble(stats->number_of_native_contexts());
  slots[DETACHED_CONTEXTS] = AsDouble(stats->number_of_detached_contexts());

  for (size_t i = 0; i < space_count_; ++i) {
    Guarded<v8::HeapSpaceStatistics> guarded_space;
    v8::HeapSpaceStatistics* space = guarded_space.Construct();
    const bool read = isolate_->GetHeapSpaceStatistics(space, i);
    slots[HeapSpaceSlot(i, SPACE_SIZE_BYTES)] = read ? AsDouble(space->space_size()) : kNaN;
    slots[HeapSpaceSlot(i, SPACE_USED_BYTES)] = read ? AsDouble(space->space_used_size()) : kNaN;
    slots[HeapSpaceSlot(i, SPACE_AVAILABLE_BYTES)] = read ? AsDouble(space->space_available_size()) : kNaN;
    slots[HeapSpaceSlot(i, SPACE_PHYSICAL_BYTES)] = read ? AsDouble(space->physical_space_size()) : kNaN;
  }
  // The layout's unused spaces.
  for (size_t slot = HeapSpaceSlot(space_count_, SPACE_SIZE_BYTES); slot < kSlotCount; ++slot) slots[slot] = kNaN;
}

}  // namespace procmeter
