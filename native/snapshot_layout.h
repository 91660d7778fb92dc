// Slot indices and the layout signature, derived from snapshot_layout.def.
#ifndef PROCMETER_SNAPSHOT_LAYOUT_H_
#define PROCMETER_SNAPSHOT_LAYOUT_H_

#include <cstddef>

namespace procmeter {

enum ProcessSlot : size_t {
#define PROCMETER_PROCESS_SLOT(ENUM, jsField, KIND, unit, description) ENUM,
#include "snapshot_layout.def"
  kProcessSlotCount
};

namespace layout_detail {
enum RuntimeSlotOffset : size_t {
#define PROCMETER_RUNTIME_SLOT(ENUM, jsField, KIND, unit, description) ENUM##_OFFSET,
#include "snapshot_layout.def"
  kRuntimeSlotCount
};
}  // namespace layout_detail

enum RuntimeSlot : size_t {
#define PROCMETER_RUNTIME_SLOT(ENUM, jsField, KIND, unit, description) \
  ENUM = kProcessSlotCount + layout_detail::ENUM##_OFFSET,
#include "snapshot_layout.def"
};
inline constexpr size_t kRuntimeSlotCount = layout_detail::kRuntimeSlotCount;

enum GcKind : size_t {
#define PROCMETER_GC_KIND(ENUM, jsField, description) GC_KIND_##ENUM,
#include "snapshot_layout.def"
  kGcKindCount
};

enum GcField : size_t {
#define PROCMETER_GC_FIELD(ENUM, jsField, KIND, unit, description) GC_FIELD_##ENUM,
#include "snapshot_layout.def"
  kGcFieldCount
};

enum HeapSpaceField : size_t {
#define PROCMETER_HEAP_SPACE_FIELD(ENUM, jsField, KIND, unit, description) ENUM,
#include "snapshot_layout.def"
  kHeapSpaceFieldCount
};

#define PROCMETER_MAX_HEAP_SPACES(count) inline constexpr size_t kMaxHeapSpaces = count;
#include "snapshot_layout.def"

inline constexpr size_t kGcSlotsBegin = kProcessSlotCount + kRuntimeSlotCount;
inline constexpr size_t kHeapSpaceSlotsBegin = kGcSlotsBegin + kGcKindCount * kGcFieldCount;
inline constexpr size_t kSlotCount = kHeapSpaceSlotsBegin + kMaxHeapSpaces * kHeapSpaceFieldCount;

constexpr size_t GcSlot(GcKind kind, GcField field) {
  return kGcSlotsBegin + kind * kGcFieldCount + field;
}

constexpr size_t HeapSpaceSlot(size_t space, HeapSpaceField field) {
  return kHeapSpaceSlotsBegin + space * kHeapSpaceFieldCount + field;
}

// Every name in order, in sections. The TypeScript side holds the same string
// (generated from the same file) and refuses a binary whose signature differs,
// so a stale prebuild can never fill slots it does not agree on.
inline constexpr const char kLayoutSignature[] =
    "process:"
#define PROCMETER_PROCESS_SLOT(ENUM, jsField, KIND, unit, description) #jsField ","
#include "snapshot_layout.def"
    ";runtime:"
#define PROCMETER_RUNTIME_SLOT(ENUM, jsField, KIND, unit, description) #jsField ","
#include "snapshot_layout.def"
    ";gcKinds:"
#define PROCMETER_GC_KIND(ENUM, jsField, description) #jsField ","
#include "snapshot_layout.def"
    ";gcFields:"
#define PROCMETER_GC_FIELD(ENUM, jsField, KIND, unit, description) #jsField ","
#include "snapshot_layout.def"
    ";heapSpaceFields:"
#define PROCMETER_HEAP_SPACE_FIELD(ENUM, jsField, KIND, unit, description) #jsField ","
#include "snapshot_layout.def"
    ";maxHeapSpaces:"
#define PROCMETER_MAX_HEAP_SPACES(count) #count
#include "snapshot_layout.def"
    ;

}  // namespace procmeter

#endif  // PROCMETER_SNAPSHOT_LAYOUT_H_
