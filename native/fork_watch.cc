#include "fork_watch.h"

#include <sys/mman.h>
#include <unistd.h>

namespace procmeter {

ForkWatch::ForkWatch(Mode mode) {
#ifdef MADV_WIPEONFORK  // libc headers before 2017 lack it: getpid() then
  if (mode != Mode::kAuto) return;
  const long page_bytes = sysconf(_SC_PAGESIZE);
  if (page_bytes <= 0) return;
  void* page = mmap(nullptr, static_cast<size_t>(page_bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return;
  // The advice is trusted only where advice no kernel knows is refused: an
  // emulator that answers every madvise() with 0 and acts on none
  // (qemu-user before 8.0) would never wipe the page. Linux before 4.14
  // refuses MADV_WIPEONFORK itself.
  constexpr int kNoSuchAdvice = -1;
  if (madvise(page, static_cast<size_t>(page_bytes), kNoSuchAdvice) == 0 ||
      madvise(page, static_cast<size_t>(page_bytes), MADV_WIPEONFORK) != 0) {
    munmap(page, static_cast<size_t>(page_bytes));
    return;
  }
  marker_ = static_cast<volatile unsigned char*>(page);  // zero: Pid() asks getpid() first
  mapped_bytes_ = static_cast<size_t>(page_bytes);
#else
  (void)mode;
#endif
}

ForkWatch::~ForkWatch() {
  if (marker_ != nullptr) munmap(const_cast<unsigned char*>(marker_), mapped_bytes_);
}

pid_t ForkWatch::Refresh() {
  pid_ = getpid();
  if (marker_ != nullptr) *marker_ = 1;
  return pid_;
}

}  // namespace procmeter
