// Unit tests of the native sampler's internals, built and run by
// native-units.test.mjs under AddressSanitizer and UBSan: the procfs parsers
// on hostile input, the getdents64 counting path that kernels before 6.2
// need, noticing fork() without a syscall per sample, reopening after it
// (never closing what the child reused), sampling at EMFILE, and the
// process-metrics claim, finding the young generation's heap spaces.
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fork_watch.h"
#include "proc_directory.h"
#include "process_claim.h"
#include "process_sampler.h"
#include "procfs_parse.h"
#include "snapshot_layout.h"
#include "young_spaces.h"

using namespace procmeter;

static int failures = 0;
#define CHECK(condition)                                                      \
  do {                                                                        \
    if (!(condition)) {                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

// What a forked child exits with where it cannot install its seccomp filter.
constexpr int kNoSeccomp = 64;

// Waits for a forked child that exits with its failure bits (0: passed),
// or, if `may_lack_seccomp`, kNoSeccomp: then the test is reported skipped.
static void ExpectChildPassed(pid_t child, const char* what, bool may_lack_seccomp = false) {
  int status = 0;
  waitpid(child, &status, 0);
  if (may_lack_seccomp && WIFEXITED(status) && WEXITSTATUS(status) == kNoSeccomp) {
    std::printf("skipped: %s (no seccomp here)\n", what);
    return;
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s: failure bits %d\n", what, WEXITSTATUS(status));
  }
}

static bool Statm(const std::string& text, StatmPages* pages) {
  return ParseStatm(text.data(), text.size(), pages);
}

static bool StartTicks(const std::string& text, uint64_t* ticks) {
  return ParseStatStartTicks(text.data(), text.size(), ticks);
}

static void TestParseStatm() {
  StatmPages pages;
  CHECK(Statm("182061 10087 4941 11018 0 12185 0\n", &pages));
  CHECK(pages.size == 182061 && pages.resident == 10087 && pages.data == 12185);
  CHECK(!Statm("", &pages));
  CHECK(!Statm("1 2 3", &pages));
  CHECK(!Statm("1 2 3 4 5 x 7", &pages));
  CHECK(!Statm("-1 2 3 4 5 6 7", &pages));
  CHECK(!Statm("99999999999999999999 2 3 4 5 6 7", &pages));  // overflows uint64
  CHECK(Statm("18446744073709551615 2 3 4 5 6 7", &pages) && pages.size == UINT64_MAX);
  CHECK(!Statm("18446744073709551616 2 3 4 5 6 7", &pages));  // UINT64_MAX + 1
  CHECK(!Statm("2 28446744073709551615 3 4 5 6 7", &pages));
  // Leading zeros: more than 19 digits, a small value.
  CHECK(Statm("0000000000000000000042 2 3 4 5 6 7", &pages) && pages.size == 42);
  // Not NUL-terminated: the parser must stop at the length.
  const char truncated[] = {'1', ' ', '2', ' ', '3', ' ', '4', ' ', '5', ' ', '6', ' ', '7'};
  CHECK(ParseStatm(truncated, sizeof truncated, &pages) && pages.dirty == 7);
  CHECK(!ParseStatm(truncated, sizeof truncated - 2, &pages));
}

static void TestParseStartTicks() {
  // Fields 3..22 after the command name; field 22 is 4242.
  const std::string tail = " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19 20\n";
  uint64_t ticks = 0;
  CHECK(StartTicks("123 (node)" + tail, &ticks) && ticks == 4242);
  CHECK(StartTicks("123 (a) (b c) d)" + tail, &ticks) && ticks == 4242);  // hostile comm
  CHECK(StartTicks("123 ()" + tail, &ticks) && ticks == 4242);
  CHECK(!StartTicks("123 (node) S 1 2 3", &ticks));
  CHECK(!StartTicks("no parenthesis at all", &ticks));
  CHECK(!StartTicks("", &ticks));
  CHECK(!StartTicks("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -5 1", &ticks));
}

static void TestKernelReleaseAtLeast() {
  CHECK(KernelReleaseAtLeast("6.2.0", 6, 2));
  CHECK(KernelReleaseAtLeast("6.18.3-arch1-1", 6, 2));
  CHECK(KernelReleaseAtLeast("7.0", 6, 2));
  CHECK(KernelReleaseAtLeast("10.1.0", 6, 2));
  CHECK(!KernelReleaseAtLeast("6.1.0-28-cloud-amd64", 6, 2));
  CHECK(!KernelReleaseAtLeast("5.15.0-1053-azure", 6, 2));
  CHECK(!KernelReleaseAtLeast("4.4.0-19041-Microsoft", 6, 2));  // WSL 1
  CHECK(!KernelReleaseAtLeast("4.4.0", 6, 2));                  // gVisor
  CHECK(!KernelReleaseAtLeast("", 6, 2));
  CHECK(!KernelReleaseAtLeast("6", 6, 2));
  CHECK(!KernelReleaseAtLeast("6.", 6, 2));
  CHECK(!KernelReleaseAtLeast("v6.2", 6, 2));
  CHECK(!KernelReleaseAtLeast("99999999999999999999999.1", 6, 2));  // overflow
}

static void TestCountDirectoryEntries() {
  char dir_template[] = "/tmp/procmeter-unit-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  CHECK(dir != nullptr);
  if (dir == nullptr) return;
  const int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(CountDirectoryEntries(dir_fd) == 0);
  // Enough entries to need several getdents64 calls with the 8 KiB buffer.
  for (int i = 0; i < 1500; ++i) {
    const std::string path = std::string(dir) + "/entry-with-a-longish-name-" + std::to_string(i);
    close(open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  }
  CHECK(CountDirectoryEntries(dir_fd) == 1500);
  CHECK(CountDirectoryEntries(dir_fd) == 1500);  // rewinds each time
  for (int i = 0; i < 1500; ++i) unlink((std::string(dir) + "/entry-with-a-longish-name-" + std::to_string(i)).c_str());
  close(dir_fd);
  rmdir(dir);
  CHECK(std::isnan(CountDirectoryEntries(-1)));

  // On /proc/self/fd the scan and st_size (Linux >= 6.2) must agree.
  const int fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  fstat(fd_dir, &st);
  const double scanned = CountDirectoryEntries(fd_dir);
  if (st.st_size > 0) CHECK(scanned == static_cast<double>(st.st_size));
  close(fd_dir);
}

static int CountFdsByScan() {
  const int fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int count = static_cast<int>(CountDirectoryEntries(fd_dir)) - 1;
  close(fd_dir);
  return count;
}

// Open fds as libc's readdir() lists them, without the listing's own fd.
static int ListedFds() {
  DIR* dir = opendir("/proc/self/fd");
  CHECK(dir != nullptr);
  int entries = 0;
  while (const struct dirent* entry = readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) ++entries;
  }
  closedir(dir);
  return entries - 1;
}

// Both ways of counting (st_size, and the scan kernels before 6.2 need)
// leave out only the sampler's own directory fd.
static void TestSamplerCountsFdsEitherWay() {
  ProcessSampler sized;
  ProcessSampler scanning(ProcessSampler::FdCounting::kScan);
  double by_size[kSlotCount];
  double by_scan[kSlotCount];
  sized.Sample(by_size);  // both open their kept fds before the comparison
  scanning.Sample(by_scan);
  std::vector<int> extra;
  for (int i = 0; i < 300; ++i) extra.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  sized.Sample(by_size);
  scanning.Sample(by_scan);
  const int listed = ListedFds();
  for (const int fd : extra) close(fd);
  CHECK(by_scan[OPEN_FDS] == listed - 1);
  CHECK(by_size[OPEN_FDS] == listed - 1);
}

// The state letter of a thread of this process ('Z' once it has ended but
// the thread group lives on), or 0 if it cannot be read.
static char ThreadState(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/stat", static_cast<int>(getpid()), static_cast<int>(tid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[512];
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char* close_paren = std::strrchr(text, ')');
  return close_paren != nullptr && close_paren[1] == ' ' ? close_paren[2] : 0;
}

struct OrphanedSampling {
  ProcessSampler* sampler;
  pid_t main_thread;
};

// Runs in a thread group whose main thread has ended: /proc/self then reads
// as the ended leader's, with no fds listed and statm all zeros. Never a
// count of -1 or a resident size of 0: NaN. Exits with failure bits.
static void* SampleWithMainThreadGone(void* data) {
  const auto* run = static_cast<OrphanedSampling*>(data);
  int waited_ms = 0;
  while (ThreadState(run->main_thread) != 'Z' && waited_ms < 5000) {
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
    ++waited_ms;
  }
  if (ThreadState(run->main_thread) != 'Z') _exit(1);  // the premise
  double slots[kSlotCount];
  run->sampler->Sample(slots);
  int bad = 0;
  if (!std::isnan(slots[OPEN_FDS])) bad |= 2;
  if (!std::isnan(slots[RESIDENT_MEMORY_BYTES]) || !std::isnan(slots[VIRTUAL_MEMORY_BYTES])) bad |= 4;
  if (!(slots[THREADS] >= 1)) bad |= 8;  // what is still right stays right
  _exit(bad);
}

static void TestSamplerAfterMainThreadExit(ProcessSampler::FdCounting counting) {
  const pid_t child = fork();
  if (child == 0) {
    static ProcessSampler sampler(counting);
    double slots[kSlotCount];
    sampler.Sample(slots);  // kept fds open while the main thread lives
    if (!(slots[OPEN_FDS] >= 1)) _exit(16);
    static OrphanedSampling run = {&sampler, static_cast<pid_t>(syscall(SYS_gettid))};
    pthread_t thread;
    if (pthread_create(&thread, nullptr, SampleWithMainThreadGone, &run) != 0) _exit(32);
    pthread_exit(nullptr);
  }
  ExpectChildPassed(child, counting == ProcessSampler::FdCounting::kScan ? "main thread gone, fds scanned" : "main thread gone");
}

#if defined(__x86_64__)
constexpr unsigned kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kAuditArch = AUDIT_ARCH_AARCH64;
#endif

// The start of every filter below: another ABI's numbers mean other
// calls, which are let through.
#define SECCOMP_THIS_ABI_ONLY                                              \
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)), \
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),               \
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

// Installs `filter` for this process and its children, for good. False
// where seccomp cannot be had (an emulator, a sandbox that forbids it).
template <size_t N>
static bool InstallSeccompFilter(struct sock_filter (&filter)[N]) {
  struct sock_fprog program = {static_cast<unsigned short>(N), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0;
}

// Makes every later getpid() fail with EPERM instead of answering, so a
// caller that asks reads -1.
static bool DenyGetpid() {
  struct sock_filter filter[] = {
      SECCOMP_THIS_ABI_ONLY,
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return InstallSeccompFilter(filter);
}

// Makes fcntl(F_GETOWN_EX) fail with EINVAL, as a kernel, emulator or
// filter that takes the F_SETOWN mark but cannot report it would.
static bool DenyGetOwnEx() {
  struct sock_filter filter[] = {
      SECCOMP_THIS_ABI_ONLY,
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fcntl, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),  // the command's low word
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_GETOWN_EX, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EINVAL & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return InstallSeccompFilter(filter);
}

// The fork watch answers from its wipe-on-fork page, with no syscall, until
// a fork() wipes it; then it asks getpid() again. Checked with a seccomp
// filter that makes getpid() fail: an answer that is not -1 came without
// the syscall. Where this build and kernel have the advice the watch must
// use it (elsewhere it may not: test/native/fork_watch_test.cc covers that).
static void TestForkWatchAsksOnlyAfterFork() {
#ifdef MADV_WIPEONFORK
  struct utsname name;
  const bool expect_wipe = uname(&name) == 0 && KernelReleaseAtLeast(name.release, 4, 14);
#else
  const bool expect_wipe = false;
#endif
  const pid_t child = fork();
  if (child == 0) {
    ForkWatch watch;
    ForkWatch asking(ForkWatch::Mode::kGetpid);
    const pid_t self = getpid();
    const bool wipes = watch.wipes_on_fork();
    int bad = 0;
    if (expect_wipe && !wipes) bad |= 1;
    if (watch.Pid() != self) bad |= 2;
    if (!DenyGetpid()) _exit(kNoSeccomp);
    if (asking.Pid() != -1) bad |= 4;  // the filter is in force
    if (wipes && watch.Pid() != self) bad |= 8;
    const pid_t grandchild = fork();
    if (grandchild == 0) _exit(watch.Pid() == -1 ? 0 : 1);  // the page was wiped: it asks
    int status = 0;
    waitpid(grandchild, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad |= 16;
    if (wipes && watch.Pid() != self) bad |= 32;  // the parent's page was not
    _exit(bad);
  }
  ExpectChildPassed(child, "the fork watch under a getpid-denying filter", true);
}

static void* Sleeper(void*) {
  pause();
  return nullptr;
}

static void TestSamplerFollowsFork(ForkWatch::Mode fork_watch) {
  ProcessSampler sampler(ProcessSampler::FdCounting::kAuto, fork_watch);
  double parent[kSlotCount];
  sampler.Sample(parent);
  CHECK(parent[OPEN_FDS] == CountFdsByScan() - 1);  // minus its own counting fd
  pthread_t thread;
  pthread_create(&thread, nullptr, Sleeper, nullptr);
  sampler.Sample(parent);
  CHECK(parent[THREADS] == 2);

  // The child's start time (at fork) measurably later than the parent's,
  // whose start may be as recent as this test binary's.
  usleep(50000);
  const pid_t child = fork();
  if (child == 0) {
    // The inherited kept fds describe the parent; the sampler must notice
    // the new pid and reopen them for the child.
    double slots[kSlotCount];
    sampler.Sample(slots);
    int bad = 0;
    if (slots[THREADS] != 1) bad |= 1;  // fork() copies only the calling thread
    if (slots[OPEN_FDS] != CountFdsByScan() - 1) bad |= 2;
    // 50 ms later, read in 10 ms clock ticks: at least 30 ms later.
    if (!(slots[START_TIME_SECONDS] >= parent[START_TIME_SECONDS] + 0.03)) bad |= 4;
    if (std::isnan(slots[RESIDENT_MEMORY_BYTES])) bad |= 8;
    _exit(bad);
  }
  ExpectChildPassed(child, "child after fork");
  double again[kSlotCount];
  sampler.Sample(again);
  CHECK(again[THREADS] == 2);
  CHECK(again[START_TIME_SECONDS] == parent[START_TIME_SECONDS]);
  pthread_cancel(thread);
  pthread_join(thread, nullptr);
}

static void TestForkedChildLeavesReusedFdsAlone(ForkWatch::Mode fork_watch) {
  ProcessSampler sampler(ProcessSampler::FdCounting::kAuto, fork_watch);
  double slots[kSlotCount];
  sampler.Sample(slots);  // opens the kept fds in the parent
  const pid_t child = fork();
  if (child == 0) {
    // Daemonizing code closes what it inherited and reuses the numbers:
    // every fd above stderr, procmeter's included, now refers to /dev/null.
    const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct stat null_stat;
    fstat(null_fd, &null_stat);
    int reused[64];
    int count = 0;
    for (int fd = 3; fd < 1024 && count < 64; ++fd) {
      if (fd != null_fd && fcntl(fd, F_GETFD) >= 0 && dup2(null_fd, fd) == fd) reused[count++] = fd;
    }
    sampler.Sample(slots);
    int bad = count >= 3 ? 0 : 1;  // the 3 kept fds at least
    for (int i = 0; i < count; ++i) {
      struct stat st;
      if (fstat(reused[i], &st) != 0 || st.st_ino != null_stat.st_ino) bad |= 2;  // closed by procmeter
    }
    if (slots[OPEN_FDS] != CountFdsByScan() - 1) bad |= 4;
    _exit(bad);
  }
  ExpectChildPassed(child, "child reusing fd numbers");
}

// The fds whose links read `target`, lowest first.
static std::vector<int> FdsLinkingTo(const char* target) {
  std::vector<int> found;
  for (int fd = 0; fd < 1024; ++fd) {
    char link[64];
    char seen[256];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, seen, sizeof seen - 1);
    if (n <= 0) continue;
    seen[n] = '\0';
    if (std::strcmp(seen, target) == 0) found.push_back(fd);
  }
  return found;
}

// The lowest fd whose link reads `target`, or -1.
static int FdLinkingTo(const char* target) {
  const std::vector<int> found = FdsLinkingTo(target);
  return found.empty() ? -1 : found.front();
}

// procfs gives every open of /proc/self/fd (statm, task) the same inode, so
// the application's own open of the same file, made under the number of
// procmeter's after it closed that, passes the fstat identity check. The
// sampler must tell it apart all the same: not rewind and read it (the
// application may be iterating it), not close it, and count with an fd of
// its own again.
static void TestAnothersOpenOfTheSameFiles() {
  ProcessSampler sampler(ProcessSampler::FdCounting::kScan);
  double slots[kSlotCount];
  sampler.Sample(slots);
  char own[64];
  const char* kFiles[] = {"statm", "fd", "task"};
  int numbers[3];
  for (int i = 0; i < 3; ++i) {
    std::snprintf(own, sizeof own, "/proc/%d/%s", static_cast<int>(getpid()), kFiles[i]);
    numbers[i] = FdLinkingTo(own);
    CHECK(numbers[i] >= 0);
  }
  // Code that closes every fd above 2 closes the sampler's; the application
  // then opens the same files and gets the same numbers (the lowest free).
  for (const int fd : numbers) close(fd);
  int applications[3];
  for (int i = 0; i < 3; ++i) {
    std::snprintf(own, sizeof own, "/proc/self/%s", kFiles[i]);
    applications[i] = open(own, O_RDONLY | O_CLOEXEC);
    CHECK(applications[i] == numbers[i]);
  }
  // The application is part way through listing its fd directory.
  alignas(8) char buffer[64];
  CHECK(syscall(SYS_getdents64, applications[1], buffer, sizeof buffer) > 0);
  const off_t position = lseek(applications[1], 0, SEEK_CUR);
  sampler.Sample(slots);
  CHECK(lseek(applications[1], 0, SEEK_CUR) == position);
  CHECK(slots[OPEN_FDS] == ListedFds() - 1);  // counted with a descriptor of its own
  sampler.Close();
  for (const int fd : applications) {
    CHECK(fcntl(fd, F_GETFD) >= 0);  // still open
    close(fd);
  }
}

// Daemonizing code forks and lets the parent exit before the child samples.
// Since Linux 6.2, fstat() of a gone process's /proc/<pid>/fd fails, so the
// child must recognise that inherited fd by its link and close it too; and
// an fd of the application's that fails the same way (the fd directory of
// another gone process, put in the same number) must stay open.
static void TestForkedChildOfExitedParent(bool number_reused) {
  int result_pipe[2];
  int reaped_pipe[2];
  if (pipe(result_pipe) != 0 || pipe(reaped_pipe) != 0) {
    CHECK(false);
    return;
  }
  const pid_t parent = fork();
  if (parent == 0) {
    ProcessSampler sampler;
    double slots[kSlotCount];
    sampler.Sample(slots);  // opens the kept fds in this (soon gone) parent
    const pid_t gone = getpid();
    if (fork() == 0) {
      close(reaped_pipe[1]);
      char byte;
      if (read(reaped_pipe[0], &byte, 1) != 1) _exit(100);  // the parent has exited and been reaped
      char parent_fds[64];
      std::snprintf(parent_fds, sizeof parent_fds, "/proc/%d/fd", static_cast<int>(gone));
      const int inherited = FdLinkingTo(parent_fds);
      if (inherited < 0) _exit(101);
      char other_fds[64] = "";
      if (number_reused) {
        // Another process's fd directory, opened while it lived, in the
        // inherited number: fstat() fails on it with ENOENT as well.
        const pid_t other = fork();
        if (other == 0) {
          pause();
          _exit(0);
        }
        std::snprintf(other_fds, sizeof other_fds, "/proc/%d/fd", static_cast<int>(other));
        const int other_fd = open(other_fds, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        kill(other, SIGKILL);
        waitpid(other, nullptr, 0);
        if (other_fd < 0 || dup2(other_fd, inherited) != inherited) _exit(102);
        close(other_fd);
      }
      sampler.Sample(slots);
      unsigned char bad = 0;
      if (FdLinkingTo(parent_fds) >= 0) bad |= 1;                             // the parent's fd kept
      char parent_statm[64];
      char parent_task[64];
      std::snprintf(parent_statm, sizeof parent_statm, "/proc/%d/statm", static_cast<int>(gone));
      std::snprintf(parent_task, sizeof parent_task, "/proc/%d/task", static_cast<int>(gone));
      if (FdLinkingTo(parent_statm) >= 0 || FdLinkingTo(parent_task) >= 0) bad |= 8;  // its statm or task kept
      if (number_reused && FdLinkingTo(other_fds) != inherited) bad |= 2;     // the application's closed
      if (slots[OPEN_FDS] != CountFdsByScan() - 1) bad |= 4;
      if (write(result_pipe[1], &bad, 1) != 1) _exit(1);
      _exit(0);
    }
    _exit(0);
  }
  close(result_pipe[1]);
  close(reaped_pipe[0]);
  int status = 0;
  waitpid(parent, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(write(reaped_pipe[1], "r", 1) == 1);
  close(reaped_pipe[1]);
  unsigned char bad = 0xff;
  CHECK(read(result_pipe[0], &bad, 1) == 1);  // EOF, if the child failed before reporting
  close(result_pipe[0]);
  CHECK(bad == 0);
  if (bad != 0) {
    std::fprintf(stderr, "child of an exited parent%s: failure bits %d\n", number_reused ? ", number reused" : "", bad);
  }
}

static void TestSamplerAtEmfile() {
  const pid_t child = fork();
  if (child == 0) {
    ProcessSampler sampler;
    double slots[kSlotCount];
    sampler.Sample(slots);  // opens the kept fds
    // Inherited fds above the new limit would stay open and be counted.
    for (int fd = 64; fd < 65536; ++fd) close(fd);
    struct rlimit limit = {64, 64};
    setrlimit(RLIMIT_NOFILE, &limit);
    while (open("/dev/null", O_RDONLY) >= 0) {
    }
    const bool emfile = errno == EMFILE;
    sampler.Sample(slots);
    int bad = emfile ? 0 : 1;
    for (size_t i = 0; i < kProcessSlotCount; ++i) {  // the rest is not the process sampler's to fill
      if (std::isnan(slots[i])) bad |= 2;
    }
    if (slots[OPEN_FDS] != 63) bad |= 4;  // all of 0..63 open, less the counting fd
    if (slots[MAX_FDS] != 64) bad |= 8;
    _exit(bad);
  }
  ExpectChildPassed(child, "child at EMFILE");
}

static void TestCloseThenSample() {
  ProcessSampler sampler;
  double slots[kSlotCount];
  sampler.Sample(slots);
  const double open_before = slots[OPEN_FDS];
  sampler.Close();
  sampler.Sample(slots);
  CHECK(slots[OPEN_FDS] == open_before);
}

// Two threads' instances of one addon copy (owners a and b), the cells
// they were given, and another copy that holds the main thread's cell.
static void TestClaimKeptUntilItsTakerReleases() {
  int owner_a = 0, owner_b = 0;
  int64_t main_cell = 0, early_worker_cell = 0;
  ProcessClaim main_thread(&owner_a), early_worker(&owner_b);
  main_thread.ShareCell(&main_cell);
  early_worker.ShareCell(&early_worker_cell);
  main_cell = 99;  // another copy of procmeter reports
  CHECK(!main_thread.Claim(1));  // evaluation 1 takes the copy's claim, not the cell
  main_thread.Release(2);        // evaluation 2, which never claimed, shuts down
  // The worker (started before the cell existed, so with one of its own)
  // must not report beside the other copy.
  CHECK(!early_worker.Claim(3));
  CHECK(early_worker_cell == 0);
  main_cell = 0;  // the other copy stops
  CHECK(main_thread.Claim(2));  // evaluation 2 takes the cell under evaluation 1's copy claim
  CHECK(main_cell == 2);
  main_thread.Release(1);  // evaluation 1 goes; evaluation 2 still reports
  CHECK(!early_worker.Claim(3));
  main_thread.Release(2);
  CHECK(main_cell == 0);
  CHECK(early_worker.Claim(3));
  CHECK(early_worker_cell == 3);
  CHECK(!main_thread.Claim(4));
}

// An environment torn down gives back whatever it held.
static void TestClaimReleasedAtTeardown() {
  int owner_a = 0, owner_b = 0;
  int64_t cell = 0;
  {
    ProcessClaim worker(&owner_a);
    worker.ShareCell(&cell);
    CHECK(worker.Claim(7));
  }
  CHECK(cell == 0);
  ProcessClaim main_thread(&owner_b);
  main_thread.ShareCell(&cell);
  CHECK(main_thread.Claim(8));
  CHECK(cell == 8);
}

// V8's heap-space names as Node 20 to 26 report them, and what a V8 that
// named them otherwise could report: a missing or a repeated name gives
// false, never a write past the four indices (ASan watches the guard).
static void TestFindYoungSpaces() {
  const char* node20[] = {"read_only_space", "new_space", "old_space", "code_space",
                          "shared_space", "trusted_space", "new_large_object_space", "large_object_space",
                          "code_large_object_space", "shared_large_object_space"};
  size_t found[kYoungSpaceCount] = {};
  CHECK(FindYoungSpaces(node20, 10, found));
  CHECK(found[kNewSpace] == 1 && found[kOldSpace] == 2);
  CHECK(found[kNewLargeObjectSpace] == 6 && found[kLargeObjectSpace] == 7);

  const char* missing[] = {"new_space", "old_space", "large_object_space"};
  CHECK(!FindYoungSpaces(missing, 3, found));

  struct {
    size_t found[kYoungSpaceCount];
    size_t guard[4];
  } padded;
  std::memset(&padded, 0, sizeof padded);
  const char* repeated[] = {"new_space", "new_space", "old_space", "old_space", "new_large_object_space",
                            "large_object_space", "large_object_space", "new_space"};
  CHECK(!FindYoungSpaces(repeated, 8, padded.found));
  for (size_t word : padded.guard) CHECK(word == 0);
}

// The same with only the directories taken over, on the path that counts
// fds by st_size (Linux 6.2 and later), which reads the directory only
// through an fstat: the once-a-second check of the marks finds them, and
// the sampler counts with fds of its own again.
static void TestAnothersOpenOfTheDirectoriesNoticedInASecond() {
  ProcessSampler sampler;
  double slots[kSlotCount];
  sampler.Sample(slots);
  const char* kDirectories[] = {"fd", "task"};
  char own[2][64];
  int applications[2];
  for (int i = 0; i < 2; ++i) {
    std::snprintf(own[i], sizeof own[i], "/proc/%d/%s", static_cast<int>(getpid()), kDirectories[i]);
    applications[i] = FdLinkingTo(own[i]);
    CHECK(applications[i] >= 0);
  }
  for (const int fd : applications) close(fd);
  for (int i = 0; i < 2; ++i) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/%s", kDirectories[i]);
    CHECK(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) == applications[i]);
  }
  const struct timespec past_the_check = {1, 200000000};
  nanosleep(&past_the_check, nullptr);
  sampler.Sample(slots);
  for (int i = 0; i < 2; ++i) CHECK(FdsLinkingTo(own[i]).size() == 2);  // the application's and procmeter's own again
  CHECK(slots[OPEN_FDS] == ListedFds() - 1);
  sampler.Close();
  for (const int fd : applications) {
    CHECK(fcntl(fd, F_GETFD) >= 0);
    close(fd);
  }
}

// Where the mark cannot be read back it is not used (the file's identity
// is all there is): the sampler must not take its own fds for another's,
// dropping and reopening them (a leak of fds per sample).
static void TestMarkThatCannotBeReadBack() {
  const pid_t child = fork();
  if (child == 0) {
    if (!DenyGetOwnEx()) _exit(kNoSeccomp);
    struct f_owner_ex owner = {};
    if (fcntl(0, F_GETOWN_EX, &owner) == 0) _exit(32);  // the filter works
    ProcessSampler sampler(ProcessSampler::FdCounting::kScan);
    double slots[kSlotCount];
    sampler.Sample(slots);
    const struct timespec past_the_check = {1, 200000000};
    nanosleep(&past_the_check, nullptr);
    for (int i = 0; i < 3; ++i) sampler.Sample(slots);
    int bad = 0;
    for (const char* file : {"statm", "fd", "task"}) {
      char own[64];
      std::snprintf(own, sizeof own, "/proc/%d/%s", static_cast<int>(getpid()), file);
      if (FdsLinkingTo(own).size() != 1) bad |= 1;  // one kept fd each, none dropped and reopened
    }
    if (slots[OPEN_FDS] != ListedFds() - 1) bad |= 2;
    _exit(bad);
  }
  ExpectChildPassed(child, "a mark that cannot be read back", true);
}

int main() {
  TestParseStatm();
  TestParseStartTicks();
  TestKernelReleaseAtLeast();
  TestCountDirectoryEntries();
  TestSamplerCountsFdsEitherWay();
  TestSamplerAfterMainThreadExit(ProcessSampler::FdCounting::kAuto);
  TestSamplerAfterMainThreadExit(ProcessSampler::FdCounting::kScan);
  TestForkWatchAsksOnlyAfterFork();
  for (const ForkWatch::Mode mode : {ForkWatch::Mode::kAuto, ForkWatch::Mode::kGetpid}) {
    TestSamplerFollowsFork(mode);
    TestForkedChildLeavesReusedFdsAlone(mode);
  }
  TestForkedChildOfExitedParent(false);
  TestForkedChildOfExitedParent(true);
  TestSamplerAtEmfile();
  TestCloseThenSample();
  TestAnothersOpenOfTheSameFiles();
  TestAnothersOpenOfTheDirectoriesNoticedInASecond();
  TestMarkThatCannotBeReadBack();
  TestClaimKeptUntilItsTakerReleases();
  TestClaimReleasedAtTeardown();
  TestFindYoungSpaces();
  if (failures == 0) std::printf("native unit tests passed\n");
  return failures == 0 ? 0 : 1;
}
