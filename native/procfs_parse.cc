#include "procfs_parse.h"

namespace procmeter {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses one unsigned decimal at *pos after skipping spaces; advances *pos.
bool ParseUnsigned(const char* text, size_t length, size_t* pos, uint64_t* value) {
  size_t i = *pos;
  while (i < length && text[i] == ' ') ++i;
  if (i == length || !IsDigit(text[i])) return false;
  const size_t first_digit = i;
  uint64_t result = 0;
  for (; i < length && IsDigit(text[i]); ++i) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    // 19 digits always fit in 64 bits: the overflow check (a division) is
    // left to longer numbers, off the path of every sample's statm parse.
    if (i - first_digit >= 19 && result > (UINT64_MAX - digit) / 10) return false;
    result = result * 10 + digit;
  }
  *pos = i;
  *value = result;
  return true;
}

}  // namespace

bool ParseStatm(const char* text, size_t length, StatmPages* out) {
  uint64_t fields[7];
  size_t pos = 0;
  for (uint64_t& field : fields) {
    if (!ParseUnsigned(text, length, &pos, &field)) return false;
  }
  *out = StatmPages{fields[0], fields[1], fields[2], fields[3],
                    fields[4], fields[5], fields[6]};
  return true;
}

bool ParseStatStartTicks(const char* text, size_t length, uint64_t* ticks) {
  size_t close_paren = length;
  for (size_t i = length; i > 0; --i) {
    if (text[i - 1] == ')') {
      close_paren = i - 1;
      break;
    }
  }
  if (close_paren == length) return false;
  // After ") " come field 3 (state) onwards; starttime is field 22.
  size_t pos = close_paren + 1;
  int field = 2;
  while (pos < length) {
    while (pos < length && text[pos] == ' ') ++pos;
    if (pos == length) return false;
    ++field;
    if (field == 22) return ParseUnsigned(text, length, &pos, ticks);
    while (pos < length && text[pos] != ' ') ++pos;
  }
  return false;
}

bool KernelReleaseAtLeast(const char* release, uint64_t major, uint64_t minor) {
  size_t length = 0;
  while (release[length] != '\0') ++length;
  size_t pos = 0;
  uint64_t release_major = 0;
  uint64_t release_minor = 0;
  if (!ParseUnsigned(release, length, &pos, &release_major) || pos == length || release[pos] != '.') return false;
  ++pos;
  if (pos == length || !IsDigit(release[pos]) || !ParseUnsigned(release, length, &pos, &release_minor)) return false;
  return release_major > major || (release_major == major && release_minor >= minor);
}

}  // namespace procmeter
