// Knowing the process's pid on every sample without a getpid() syscall.
#ifndef PROCMETER_FORK_WATCH_H_
#define PROCMETER_FORK_WATCH_H_

#include <sys/types.h>

namespace procmeter {

// The sampler's kept fds belong to the process that opened them, so every
// sample must know whether the process has forked since. getpid() is a real
// syscall (glibc stopped caching it in 2.25), and with the kernel's page
// table isolation (PTI) it costs about 1 us, as much as one of the five
// reads a sample makes, for an event that almost never happens in Node.
//
// Instead, a page of our own is marked MADV_WIPEONFORK (Linux >= 4.14): the
// kernel hands a child of fork() that page zeroed, so a byte we set reads 0
// there, whichever way the fork was made (glibc, raw clone, no atfork
// handlers needed). Where the advice cannot be had or trusted (Linux before
// 4.14, old libc headers, an emulator that ignores it), every call asks
// getpid(), as before. One per sampler: per environment, never shared.
class ForkWatch {
 public:
  enum class Mode {
    kAuto,    // the wipe-on-fork page where the kernel offers it
    kGetpid,  // getpid() on every call (the fallback; tests force it)
  };

  explicit ForkWatch(Mode mode = Mode::kAuto);
  ~ForkWatch();
  ForkWatch(const ForkWatch&) = delete;
  ForkWatch& operator=(const ForkWatch&) = delete;

  // The calling process's pid. A syscall only at the first call, in a child
  // after fork(), or where the wipe-on-fork page could not be had.
  pid_t Pid() {
    if (marker_ != nullptr && *marker_ != 0) return pid_;
    return Refresh();
  }

  // True if the wipe-on-fork page is in use (tests check it).
  bool wipes_on_fork() const { return marker_ != nullptr; }

 private:
  pid_t Refresh();

  // Set to 1 by Refresh(); the kernel zeroes it in a child of fork()
  // (volatile: written behind the compiler's back).
  volatile unsigned char* marker_ = nullptr;
  size_t mapped_bytes_ = 0;
  pid_t pid_ = -1;
};

}  // namespace procmeter

#endif  // PROCMETER_FORK_WATCH_H_
