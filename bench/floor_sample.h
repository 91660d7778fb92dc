/* The syscalls of one process snapshot, as procmeter's native sampler makes
 * them (its fork check: a byte of a MADV_WIPEONFORK page, getpid() only
 * where that byte was wiped; getrusage, pread of a kept /proc/self/statm with a minimal
 * parse, fstat of kept /proc/self/fd and /proc/self/task dirs, getrlimit),
 * with no Node-API around them. Shared by the C floor (floor.c, its own
 * process) and the same-work floor (floor-v8.cc, inside Node). */
#ifndef PROCMETER_BENCH_FLOOR_SAMPLE_H_
#define PROCMETER_BENCH_FLOOR_SAMPLE_H_

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The fork check's page, as native/fork_watch.cc keeps it (NULL, and a
 * getpid() per sample, where the advice cannot be had or trusted). */
struct floor_fork_page {
  unsigned char armed; /* the kernel zeroes it in a child of fork() */
  pid_t pid;
};

struct floor_fds {
  volatile struct floor_fork_page* fork_page;
  int statm;
  int fd_dir;
  int task_dir;
  double page_bytes;
};

static inline struct floor_fds floor_open(void) {
  struct floor_fds fds;
  const size_t page_size = (size_t)sysconf(_SC_PAGESIZE);
  void* page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  fds.fork_page = NULL;
#ifdef MADV_WIPEONFORK
  if (page != MAP_FAILED && madvise(page, page_size, -1) != 0 && madvise(page, page_size, MADV_WIPEONFORK) == 0) {
    fds.fork_page = (volatile struct floor_fork_page*)page;
  }
#endif
  if (fds.fork_page == NULL && page != MAP_FAILED) munmap(page, page_size);
  fds.statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  fds.fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fds.task_dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fds.page_bytes = (double)sysconf(_SC_PAGESIZE);
  return fds;
}

static inline uint64_t floor_parse_u64(const char** p, const char* end) {
  uint64_t v = 0;
  while (*p < end && **p == ' ') ++*p;
  while (*p < end && **p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(*(*p)++ - '0');
  return v;
}

/* Fills out[0..15] much as procmeter's process slots; returns a checksum so
 * the compiler cannot drop the work. */
static inline double floor_sample(const struct floor_fds* fds, double out[16]) {
  if (fds->fork_page == NULL) {
    out[15] = (double)getpid();
  } else {
    if (!fds->fork_page->armed) {
      fds->fork_page->pid = getpid();
      fds->fork_page->armed = 1;
    }
    out[15] = (double)fds->fork_page->pid;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  out[0] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  out[1] = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  out[5] = (double)ru.ru_maxrss * 1024.0;
  out[11] = (double)ru.ru_nvcsw;
  out[12] = (double)ru.ru_nivcsw;
  out[13] = (double)ru.ru_minflt;
  out[14] = (double)ru.ru_majflt;
  char buf[256];
  const ssize_t n = pread(fds->statm, buf, sizeof buf, 0);
  const char* p = buf;
  const char* end = buf + (n > 0 ? n : 0);
  out[3] = (double)floor_parse_u64(&p, end) * fds->page_bytes;
  out[2] = (double)floor_parse_u64(&p, end) * fds->page_bytes;
  floor_parse_u64(&p, end);
  floor_parse_u64(&p, end);
  floor_parse_u64(&p, end);
  out[4] = (double)floor_parse_u64(&p, end) * fds->page_bytes;
  struct stat fd_stat, task_stat;
  /* The fstat syscall itself, as procmeter makes it: glibc's fstat() is
   * newfstatat(fd, "", AT_EMPTY_PATH), dearer on kernels before 6.11. */
  syscall(SYS_fstat, fds->fd_dir, &fd_stat);
  out[6] = (double)fd_stat.st_size - 1;
  syscall(SYS_fstat, fds->task_dir, &task_stat);
  out[9] = (double)task_stat.st_nlink - 2;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  out[7] = (double)rl.rlim_cur;
  out[8] = (double)rl.rlim_max;
  return out[0] + out[2] + out[6] + out[9] + out[7] + out[15];
}

#endif /* PROCMETER_BENCH_FLOOR_SAMPLE_H_ */
