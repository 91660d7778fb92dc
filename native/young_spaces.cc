#include "young_spaces.h"

#include <cstring>

namespace procmeter {

bool FindYoungSpaces(const char* const* names, size_t count, size_t (&found)[kYoungSpaceCount]) {
  // V8's names, in the order of YoungSpace.
  static constexpr const char* kNames[kYoungSpaceCount] = {"new_space", "old_space", "new_large_object_space",
                                                           "large_object_space"};
  for (size_t space = 0; space < kYoungSpaceCount; ++space) {
    size_t matches = 0;
    for (size_t i = 0; i < count; ++i) {
      if (std::strcmp(names[i], kNames[space]) == 0 && matches++ == 0) found[space] = i;
    }
    if (matches != 1) return false;
  }
  return true;
}

}  // namespace procmeter
