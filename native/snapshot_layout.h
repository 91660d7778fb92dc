// Slot indices and the layout signature, derived from snapshot_layout.def.
#ifndef PROCMETER_SNAPSHOT_LAYOUT_H_
#define PROCMETER_SNAPSHOT_LAYOUT_H_

#include <cstddef>

namespace procmeter {

enum Slot : size_t {
#define PROCMETER_SLOT(ENUM_NAME, jsField, KIND, unit, description) ENUM_NAME,
#include "snapshot_layout.def"
#undef PROCMETER_SLOT
  kSlotCount
};

// The field names joined by commas. The TypeScript side holds the same string
// (generated from the same file) and refuses a binary whose signature differs,
// so a stale prebuild can never fill slots it does not agree on.
inline constexpr const char kLayoutSignature[] =
#define PROCMETER_SLOT(ENUM_NAME, jsField, KIND, unit, description) #jsField ","
#include "snapshot_layout.def"
#undef PROCMETER_SLOT
    "";

}  // namespace procmeter

#endif  // PROCMETER_SNAPSHOT_LAYOUT_H_
