// Process-wide readings from Linux: CPU, memory, fds, threads, limits.
#ifndef PROCMETER_PROCESS_SAMPLER_H_
#define PROCMETER_PROCESS_SAMPLER_H_

#include <sys/stat.h>
#include <sys/types.h>

#include "fork_watch.h"

namespace procmeter {

// A descriptor procmeter keeps open, with the identity of the file it
// opened, so that it never reads through or closes a descriptor that is not
// its own.
struct KeptFd {
  int fd = -1;
  dev_t device = 0;
  ino_t inode = 0;
  // procfs gives every open of /proc/self/statm the same inode: the file's
  // identity cannot tell procmeter's open from the application's, made
  // under the same number after it closed procmeter's. procmeter's own are
  // marked with the opening thread as their F_SETOWN owner (a field of the
  // open file, used only for O_ASYNC signals, which these never have);
  // 0 where the kernel refused the mark or does not report it back. (Two
  // copies of the addon in one thread mark alike: they are not told apart.)
  pid_t owner_tid = 0;
  const char* path = nullptr;  // a /proc/self/... literal
  // The last open failed in a way a retry would not mend (no /proc, say).
  bool unavailable = false;

  // Leaves fd at -1 if the file cannot be opened or its identity read.
  void Open(const char* proc_self_path, int extra_flags);
  // Closes fd only if it is still procmeter's open of the file (an fstat
  // and an fcntl); `opener`, the process that opened it, tells a child of
  // fork(), where the identity alone tells (the mark names a thread of the
  // parent, gone with it). Either way fd is -1 afterwards.
  void Close(pid_t opener);
  // True if `st`, an fstat of fd, is the file procmeter opened, through
  // procmeter's open or another's of the same file (which reads the same).
  bool Is(const struct stat& st) const { return st.st_dev == device && st.st_ino == inode; }
  // True if fd carries procmeter's owner mark (one fcntl): not another
  // open of the same file, which procmeter must not close nor move the
  // position of.
  bool OpenedHere() const;
  // True if fd is open and still procmeter's open of the file.
  bool StillOurs() const;
  // Lets go of fd without closing it unless it is still procmeter's open
  // of the file (an fstat and an fcntl): an application that closed it may
  // have reused the number, which is then its own.
  void DropIfForeign();
};

// One per Node environment (main thread or worker), never shared. It keeps
// /proc/self/statm, /proc/self/fd and /proc/self/task open so that a sample
// costs a handful of syscalls, does not grow with the number of open fds, and
// still works when the process has run out of file descriptors.
class ProcessSampler {
 public:
  // How open fds are counted: kAuto takes st_size of /proc/self/fd where
  // the kernel makes it the count (Linux >= 6.2) and scans the directory
  // elsewhere; kScan always scans (so tests reach that path on any kernel).
  enum class FdCounting { kAuto, kScan };

  explicit ProcessSampler(FdCounting counting = FdCounting::kAuto,
                          ForkWatch::Mode fork_watch = ForkWatch::Mode::kAuto);
  ~ProcessSampler();
  ProcessSampler(const ProcessSampler&) = delete;
  ProcessSampler& operator=(const ProcessSampler&) = delete;

  // Writes every process slot of `slots` (kSlotCount doubles). Never fails:
  // a source that cannot be read leaves NaN in its slots.
  void Sample(double* slots);

  // Closes the kept descriptors; Sample() reopens them if called again.
  void Close();

  // The start time to report where /proc/self/stat cannot be read at all
  // (Node's time origin, from JavaScript, as the fallback reports). NaN
  // until set.
  void SetFallbackStartTime(double seconds) { start_time_fallback_seconds_ = seconds; }

 private:
  // Kept descriptors point at the process that opened them, so after a
  // fork() the child must reopen them (and re-read its own start time).
  void EnsureOpen(pid_t pid);
  // The slots read through the kept descriptors. False if one of them is
  // no longer the file procmeter opened (closed, or its number reused).
  bool SampleKeptFds(double* slots);
  // True at most once a second: time to check statm's identity, which,
  // unlike the directories', does not come free with its read, and the
  // three kept fds' marks.
  bool IdentityCheckDue();

  ForkWatch fork_watch_;
  pid_t owner_pid_ = -1;
  KeptFd statm_;
  KeptFd fd_dir_;
  KeptFd task_dir_;
  double page_size_bytes_;
  double start_time_seconds_;
  bool start_time_unreadable_ = false;  // not a transient failure: not retried
  double start_time_fallback_seconds_;
  double next_identity_check_seconds_ = 0;  // CLOCK_MONOTONIC_COARSE
  // Linux >= 6.2: st_size of /proc/self/fd counts the open fds.
  bool fd_directory_size_is_count_;
};

}  // namespace procmeter

#endif  // PROCMETER_PROCESS_SAMPLER_H_
