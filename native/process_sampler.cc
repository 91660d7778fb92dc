#include "process_sampler.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "proc_directory.h"
#include "procfs_parse.h"
#include "snapshot_layout.h"

namespace procmeter {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// glibc >= 2.33 binds fstat() to fstat@GLIBC_2.33, which would not load on
// the glibc 2.28 that Node's own Linux builds support. The raw syscall has
// no symbol version and the same cost. It fills the kernel's struct stat,
// which is glibc's only on 64-bit targets (32-bit ones have fstat64): a
// 32-bit build fails here, and procmeter falls back to JavaScript there,
// rather than reading the wrong fields.
static_assert(sizeof(long) == 8 && sizeof(void*) == 8, "procmeter's native sampler supports 64-bit Linux only");
int FstatRaw(int fd, struct stat* st) {
  return static_cast<int>(syscall(SYS_fstat, fd, st));
}

// glibc has a gettid() wrapper only since 2.30.
pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// True if fd's open file has thread `tid` as its F_SETOWN owner. Zeroed
// first: gVisor answers an unowned file without writing the struct, and
// {F_OWNER_TID, 0} is no thread. The kernel reports a thread that has
// exited as 0 too.
bool OwnerIs(int fd, pid_t tid) {
  struct f_owner_ex owner = {};
  return fcntl(fd, F_GETOWN_EX, &owner) == 0 && owner.type == F_OWNER_TID && owner.pid == tid;
}

// A failure that may clear up on a later try: the fd table (or the
// system's) full, memory short. Any other (no /proc, no permission) will
// not, and is not retried on every sample.
bool TransientOpenError(int error) {
  return error == EMFILE || error == ENFILE || error == ENOMEM || error == EAGAIN;
}

int OpenReadOnly(const char* path, int extra_flags) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC | extra_flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

ssize_t PreadFully(int fd, char* buffer, size_t capacity) {
  ssize_t n;
  do {
    n = pread(fd, buffer, capacity, 0);
  } while (n < 0 && errno == EINTR);
  return n;
}

double TimevalSeconds(const struct timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double LimitValue(rlim_t limit) {
  return limit == RLIM_INFINITY ? kInfinity : static_cast<double>(limit);
}

double TimespecSeconds(const struct timespec& ts) {
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Start time in Unix seconds: field 22 of /proc/self/stat is the start in
// clock ticks since boot; the boot instant is CLOCK_REALTIME - CLOCK_BOOTTIME.
// (/proc/stat's btime is the same instant truncated to whole seconds, which
// would throw away the sub-second part.) NaN if it cannot be read, with
// *transient telling whether a later try may succeed.
double ReadStartTimeSeconds(bool* transient) {
  *transient = false;
  const int fd = OpenReadOnly("/proc/self/stat", 0);
  if (fd < 0) {
    *transient = TransientOpenError(errno);
    return kNaN;
  }
  char text[1024];
  const ssize_t n = PreadFully(fd, text, sizeof text);
  close(fd);
  uint64_t start_ticks;
  if (n <= 0 || !ParseStatStartTicks(text, static_cast<size_t>(n), &start_ticks)) {
    return kNaN;
  }
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (ticks_per_second <= 0) return kNaN;
  // Read BOOTTIME between two REALTIME reads and keep the tightest of a few
  // tries: a thread preempted between the reads would skew the boot instant.
  double boot_unix_seconds = kNaN;
  double best_width = kInfinity;
  for (int attempt = 0; attempt < 5; ++attempt) {
    struct timespec before, boottime, after;
    if (clock_gettime(CLOCK_REALTIME, &before) != 0 || clock_gettime(CLOCK_BOOTTIME, &boottime) != 0 ||
        clock_gettime(CLOCK_REALTIME, &after) != 0) {
      return kNaN;
    }
    const double width = TimespecSeconds(after) - TimespecSeconds(before);
    // A negative width is the clock stepped back between the reads: it
    // would win every comparison with the instant off by half the step.
    if (width >= 0 && width < best_width) {
      best_width = width;
      boot_unix_seconds = (TimespecSeconds(before) + TimespecSeconds(after)) / 2 - TimespecSeconds(boottime);
    }
  }
  return boot_unix_seconds +
         static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
}

// Since Linux 6.2 st_size of /proc/self/fd is the number of open fds;
// older kernels report 0. Kernels emulated in user space (gVisor, WSL 1)
// give older release numbers, so whatever their st_size holds, it is not
// taken for a count there: the entries are counted instead.
bool FdDirectorySizeIsCount() {
  struct utsname name;
  return uname(&name) == 0 && KernelReleaseAtLeast(name.release, 6, 2);
}

// True if `fd` is the link /proc/<opener>/<rest of proc_self_path>. Asks no
// fd of its own, so it works at EMFILE.
bool LinksToProcOf(int fd, pid_t opener, const char* proc_self_path) {
  static constexpr char kProcSelf[] = "/proc/self";
  constexpr size_t kProcSelfLength = sizeof kProcSelf - 1;
  if (std::strncmp(proc_self_path, kProcSelf, kProcSelfLength) != 0) return false;
  char link_path[64];
  char expected[256];
  char target[256];
  std::snprintf(link_path, sizeof link_path, "/proc/self/fd/%d", fd);
  const int expected_length =
      std::snprintf(expected, sizeof expected, "/proc/%d%s", static_cast<int>(opener), proc_self_path + kProcSelfLength);
  const ssize_t target_length = readlink(link_path, target, sizeof target);
  return expected_length > 0 && target_length == expected_length &&
         std::memcmp(target, expected, static_cast<size_t>(target_length)) == 0;
}

}  // namespace

ProcessSampler::ProcessSampler(FdCounting counting, ForkWatch::Mode fork_watch)
    : fork_watch_(fork_watch),
      page_size_bytes_(static_cast<double>(sysconf(_SC_PAGESIZE))),
      start_time_seconds_(kNaN),
      start_time_fallback_seconds_(kNaN),
      fd_directory_size_is_count_(counting == FdCounting::kAuto && FdDirectorySizeIsCount()) {}

void KeptFd::Open(const char* proc_self_path, int extra_flags) {
  path = proc_self_path;
  fd = OpenReadOnly(proc_self_path, extra_flags);
  if (fd < 0) {
    unavailable = !TransientOpenError(errno);
    return;
  }
  struct stat st;
  if (FstatRaw(fd, &st) != 0) {
    // Without its identity it could never be told from a stranger's.
    close(fd);
    fd = -1;
    return;
  }
  device = st.st_dev;
  inode = st.st_ino;
  // Trusted only if it reads back: a kernel (or emulator, or filter) that
  // takes the mark but does not report it would make every own fd look
  // foreign.
  const pid_t tid = CurrentThreadId();
  struct f_owner_ex mark = {F_OWNER_TID, tid};
  owner_tid = 0;
  if (fcntl(fd, F_SETOWN_EX, &mark) == 0 && OwnerIs(fd, tid)) owner_tid = tid;
}

bool KeptFd::OpenedHere() const {
  return owner_tid == 0 || OwnerIs(fd, owner_tid);  // unmarked: the file's identity is all there is
}

bool KeptFd::StillOurs() const {
  struct stat st;
  return fd >= 0 && FstatRaw(fd, &st) == 0 && Is(st) && OpenedHere();
}

void KeptFd::DropIfForeign() {
  if (fd >= 0 && !StillOurs()) fd = -1;
}

void KeptFd::Close(pid_t opener) {
  if (fd < 0) return;
  // Closed only if the number still refers to the file procmeter opened:
  // the application may have closed it and reused the number (code that
  // closes every fd above 2 does), and a child of fork() inherits the
  // numbers too. Once a forked child's parent has exited, fstat() of its
  // /proc/<pid>/fd fails (ENOENT since Linux 6.2): then the link's target
  // tells.
  //
  // In a child of fork() the mark, the parent's thread, reads 0 once that
  // thread has exited: there the identity alone tells, and suffices, since
  // the child's own opens of /proc/self/... are of other files (its pid's).
  struct stat st;
  bool ours = false;
  if (FstatRaw(fd, &st) == 0) {
    ours = Is(st) && (opener != getpid() || OpenedHere());
  } else if (errno == ENOENT && opener != getpid()) {
    ours = LinksToProcOf(fd, opener, path);
  }
  if (ours) close(fd);  // never retried on EINTR: the fd is gone either way
  fd = -1;
}

ProcessSampler::~ProcessSampler() { Close(); }

void ProcessSampler::Close() {
  statm_.Close(owner_pid_);
  fd_dir_.Close(owner_pid_);
  task_dir_.Close(owner_pid_);
  // Tried again by the next sample: a forked child may see another /proc.
  statm_.unavailable = fd_dir_.unavailable = task_dir_.unavailable = false;
  start_time_unreadable_ = false;
  owner_pid_ = -1;
}

void ProcessSampler::EnsureOpen(pid_t pid) {
  if (pid != owner_pid_) {
    Close();
    owner_pid_ = pid;
    start_time_seconds_ = kNaN;
  }
  // The start time first: its files are open only while it is read, so with
  // the fd table full but for the kept fds just closed (a fork's child
  // inherits its parent's table) it takes their numbers and gives them back.
  if (std::isnan(start_time_seconds_) && !start_time_unreadable_) {
    bool transient = false;
    start_time_seconds_ = ReadStartTimeSeconds(&transient);
    start_time_unreadable_ = std::isnan(start_time_seconds_) && !transient;
  }
  // A source that failed to open for a while (say, at EMFILE) is retried on
  // the next sample; once open, it keeps working whatever happens to the fd
  // table. One that cannot be opened at all (no /proc) is not retried.
  if (statm_.fd < 0 && !statm_.unavailable) statm_.Open("/proc/self/statm", 0);
  if (fd_dir_.fd < 0 && !fd_dir_.unavailable) fd_dir_.Open("/proc/self/fd", O_DIRECTORY);
  if (task_dir_.fd < 0 && !task_dir_.unavailable) task_dir_.Open("/proc/self/task", O_DIRECTORY);
}

void ProcessSampler::Sample(double* slots) {
  EnsureOpen(fork_watch_.Pid());

  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    slots[CPU_USER_SECONDS] = TimevalSeconds(usage.ru_utime);
    slots[CPU_SYSTEM_SECONDS] = TimevalSeconds(usage.ru_stime);
    slots[MAX_RESIDENT_MEMORY_BYTES] = static_cast<double>(usage.ru_maxrss) * 1024.0;
    slots[VOLUNTARY_CONTEXT_SWITCHES] = static_cast<double>(usage.ru_nvcsw);
    slots[INVOLUNTARY_CONTEXT_SWITCHES] = static_cast<double>(usage.ru_nivcsw);
    slots[MINOR_PAGE_FAULTS] = static_cast<double>(usage.ru_minflt);
    slots[MAJOR_PAGE_FAULTS] = static_cast<double>(usage.ru_majflt);
  } else {
    slots[CPU_USER_SECONDS] = slots[CPU_SYSTEM_SECONDS] = kNaN;
    slots[MAX_RESIDENT_MEMORY_BYTES] = kNaN;
    slots[VOLUNTARY_CONTEXT_SWITCHES] = slots[INVOLUNTARY_CONTEXT_SWITCHES] = kNaN;
    slots[MINOR_PAGE_FAULTS] = slots[MAJOR_PAGE_FAULTS] = kNaN;
  }

  if (!SampleKeptFds(slots)) {
    // Code that closes every descriptor above 2 (some daemonizing helpers
    // do, without forking) took procmeter's, and may have opened files under
    // the same numbers since. Let go of those that are not procmeter's any
    // more, without closing them, open new ones and read again.
    statm_.DropIfForeign();
    fd_dir_.DropIfForeign();
    task_dir_.DropIfForeign();
    EnsureOpen(owner_pid_);
    SampleKeptFds(slots);
  }

  // Read every time: setrlimit() or prlimit from outside can change it.
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    slots[MAX_FDS] = LimitValue(limit.rlim_cur);
    slots[MAX_FDS_HARD] = LimitValue(limit.rlim_max);
  } else {
    slots[MAX_FDS] = slots[MAX_FDS_HARD] = kNaN;
  }

  slots[START_TIME_SECONDS] = start_time_unreadable_ ? start_time_fallback_seconds_ : start_time_seconds_;
}

bool ProcessSampler::IdentityCheckDue() {
  struct timespec now;
  // The coarse clock is read in user space (vDSO): a few nanoseconds.
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0) return true;
  const double now_seconds = TimespecSeconds(now);
  if (now_seconds < next_identity_check_seconds_) return false;
  next_identity_check_seconds_ = now_seconds + 1;
  return true;
}

bool ProcessSampler::SampleKeptFds(double* slots) {
  // A kept descriptor that could not be opened (say, at EMFILE) gives NaN;
  // one that fails its read or identity check makes the sample suspect. The
  // directories' identity comes free with the fstat that reads them; statm's
  // costs a syscall of its own, so it is checked when its read fails to
  // parse and at most once a second: a number taken over by another file
  // that reads like a statm (the application closed procmeter's fds and
  // opened, say, /proc/<pid>/statm of another process) is caught in a
  // second, its readings never reported for good.
  // The directories' marks are checked then too: the application's own
  // open of the same directory, under procmeter's old number, reads alike
  // but is not procmeter's to count with.
  const bool check_due = IdentityCheckDue();
  const bool statm_foreign = statm_.fd >= 0 && check_due && !statm_.StillOurs();
  bool all_ours = !statm_foreign;
  if (check_due) {
    if (fd_dir_.fd >= 0 && !fd_dir_.OpenedHere()) all_ours = false;
    if (task_dir_.fd >= 0 && !task_dir_.OpenedHere()) all_ours = false;
  }

  // A descriptor known to be someone else's is not read at all.
  char statm_text[256];
  StatmPages pages;
  const ssize_t statm_length =
      statm_.fd >= 0 && !statm_foreign ? PreadFully(statm_.fd, statm_text, sizeof statm_text) : -1;
  // A virtual size of 0 is no live process's: /proc/self of a thread group
  // whose main thread has ended (pthread_exit) reads all zeros.
  const bool statm_parsed = statm_length > 0 && ParseStatm(statm_text, static_cast<size_t>(statm_length), &pages);
  if (statm_parsed && pages.size > 0) {
    slots[RESIDENT_MEMORY_BYTES] = static_cast<double>(pages.resident) * page_size_bytes_;
    slots[VIRTUAL_MEMORY_BYTES] = static_cast<double>(pages.size) * page_size_bytes_;
    slots[DATA_BYTES] = static_cast<double>(pages.data) * page_size_bytes_;
  } else {
    slots[RESIDENT_MEMORY_BYTES] = slots[VIRTUAL_MEMORY_BYTES] = slots[DATA_BYTES] = kNaN;
    if (statm_.fd >= 0 && !statm_parsed) all_ours = false;  // text no statm has: whose fd is it?
  }

  // st_size of /proc/self/fd where it is the number of open fds (see
  // FdDirectorySizeIsCount), else the entries counted. Either way the
  // directory fd we count with is one of them.
  struct stat st;
  if (fd_dir_.fd < 0) {
    slots[OPEN_FDS] = kNaN;
  } else if (FstatRaw(fd_dir_.fd, &st) != 0 || !fd_dir_.Is(st)) {
    slots[OPEN_FDS] = kNaN;
    all_ours = false;
  } else if (fd_directory_size_is_count_ && st.st_size > 0) {
    slots[OPEN_FDS] = static_cast<double>(st.st_size) - 1;
  } else if (!fd_dir_.OpenedHere()) {
    // The scan rewinds the directory: not another's open of it.
    slots[OPEN_FDS] = kNaN;
    all_ours = false;
  } else {
    // At least the kept fd itself is listed, unless the listing is not this
    // process's fd table (a thread group whose main thread has ended lists
    // none): NaN then, never a count of -1.
    const double entries = CountDirectoryEntries(fd_dir_.fd);
    slots[OPEN_FDS] = entries >= 1 ? entries - 1 : std::numeric_limits<double>::quiet_NaN();
  }

  // st_nlink of /proc/self/task is 2 plus the number of threads.
  if (task_dir_.fd < 0) {
    slots[THREADS] = kNaN;
  } else if (FstatRaw(task_dir_.fd, &st) != 0 || !task_dir_.Is(st)) {
    slots[THREADS] = kNaN;
    all_ours = false;
  } else {
    slots[THREADS] = st.st_nlink > 2 ? static_cast<double>(st.st_nlink - 2) : kNaN;
  }
  return all_ours;
}

}  // namespace procmeter
