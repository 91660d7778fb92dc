// Parsers for the procfs text formats procmeter reads. Pure functions with no
// I/O, unit-tested on their own (test/native/unit_test.cc).
#ifndef PROCMETER_PROCFS_PARSE_H_
#define PROCMETER_PROCFS_PARSE_H_

#include <cstddef>
#include <cstdint>

namespace procmeter {

// /proc/<pid>/statm: "size resident shared text lib data dt", in pages.
struct StatmPages {
  uint64_t size;
  uint64_t resident;
  uint64_t shared;
  uint64_t text;
  uint64_t lib;
  uint64_t data;
  uint64_t dirty;
};

// Returns false unless all seven fields parse.
bool ParseStatm(const char* text, size_t length, StatmPages* out);

// /proc/<pid>/stat field 22, the start time in clock ticks since boot. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'. Returns false if the field is missing.
bool ParseStatStartTicks(const char* text, size_t length, uint64_t* ticks);

// Whether a kernel release string (uname's, "6.18.3-arch1") is at least
// major.minor. False for a string that does not start with "major.minor".
bool KernelReleaseAtLeast(const char* release, uint64_t major, uint64_t minor);

}  // namespace procmeter

#endif  // PROCMETER_PROCFS_PARSE_H_
