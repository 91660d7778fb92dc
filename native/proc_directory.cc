#include "proc_directory.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>

namespace procmeter {

double CountDirectoryEntries(int dir_fd) {
  if (lseek(dir_fd, 0, SEEK_SET) != 0) return std::numeric_limits<double>::quiet_NaN();
  alignas(8) char buffer[8192];
  double entries = 0;
  for (;;) {
    // The raw syscall: glibc only gained a getdents64() wrapper in 2.30.
    const long n = syscall(SYS_getdents64, dir_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::numeric_limits<double>::quiet_NaN();
    if (n == 0) return entries;
    for (long offset = 0; offset < n;) {
      // struct linux_dirent64: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name[]
      const char* entry = buffer + offset;
      uint16_t record_length;
      std::memcpy(&record_length, entry + 16, sizeof record_length);
      const char* name = entry + 19;
      const bool dot = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
      if (!dot) entries += 1;
      if (record_length == 0) return std::numeric_limits<double>::quiet_NaN();
      offset += record_length;
    }
  }
}

}  // namespace procmeter
