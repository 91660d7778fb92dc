// Which of V8's heap spaces a minor GC can change, found by name, so that
// the GC callbacks read only those. Free of V8's headers (unit-tested alone).
#ifndef PROCMETER_YOUNG_SPACES_H_
#define PROCMETER_YOUNG_SPACES_H_

#include <cstddef>

namespace procmeter {

// A minor GC empties the young generation (new space and new large-object
// space) into the old and large-object spaces. The first
// kYoungSmallObjectSpaces entries are what a minor GC that finds no young
// large objects can change; all kYoungSpaceCount what any minor GC can.
enum YoungSpace : size_t { kNewSpace, kOldSpace, kNewLargeObjectSpace, kLargeObjectSpace, kYoungSpaceCount };
constexpr size_t kYoungSmallObjectSpaces = kNewLargeObjectSpace;

// Writes the index in `names` of each YoungSpace into `found` and returns
// true; false if a name is missing or repeated (V8 naming its spaces
// otherwise: then every space is read, which is always right). Never writes
// more than kYoungSpaceCount entries.
bool FindYoungSpaces(const char* const* names, size_t count, size_t (&found)[kYoungSpaceCount]);

}  // namespace procmeter

#endif  // PROCMETER_YOUNG_SPACES_H_
