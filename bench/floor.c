// The floor for one process snapshot: the same syscalls procmeter's native
// sampler makes (getpid, getrusage, pread of a kept /proc/self/statm with a
// minimal parse, fstat of kept /proc/self/fd and /proc/self/task dirs,
// getrlimit), in plain C with no Node-API in between.
//
// getrusage(RUSAGE_SELF) sums over every thread of the process, so the
// floor starts as many (idle) threads as the Node process it is compared with.
//
// usage: floor <target open fds> <threads> <calls per sample> <samples>
// prints: {"openFds":N,"threads":T,"nsPerOp":[sample, ...]}
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile double sink;

static uint64_t parse_u64(const char** p, const char* end) {
  uint64_t v = 0;
  while (*p < end && **p == ' ') ++*p;
  while (*p < end && **p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(*(*p)++ - '0');
  return v;
}

static void* idle_thread(void* unused) {
  (void)unused;
  for (;;) pause();
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: floor <target open fds> <threads> <calls per sample> <samples>\n");
    return 2;
  }
  const long target_fds = atol(argv[1]);
  const long threads = atol(argv[2]);
  const long calls = atol(argv[3]);
  const long samples = atol(argv[4]);
  for (long t = 1; t < threads; ++t) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, idle_thread, NULL) != 0) {
      perror("pthread_create");
      return 1;
    }
  }

  const int statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  const int fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int task_dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  fstat(fd_dir, &st);
  for (long open_fds = st.st_size; open_fds < target_fds; ++open_fds) {
    if (open("/dev/null", O_RDONLY) < 0) {
      perror("open");
      return 1;
    }
  }
  fstat(fd_dir, &st);
  const long open_fds = (long)st.st_size;
  const double page = (double)sysconf(_SC_PAGESIZE);

  struct stat task_st;
  fstat(task_dir, &task_st);
  printf("{\"openFds\":%ld,\"threads\":%ld,\"nsPerOp\":[", open_fds - 1, (long)task_st.st_nlink - 2);
  for (long s = 0; s < samples; ++s) {
    const double start = now_ns();
    for (long i = 0; i < calls; ++i) {
      double out[16];
      out[15] = (double)getpid();
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
      const ssize_t n = pread(statm_fd, buf, sizeof buf, 0);
      const char* p = buf;
      const char* end = buf + (n > 0 ? n : 0);
      out[3] = (double)parse_u64(&p, end) * page;
      out[2] = (double)parse_u64(&p, end) * page;
      parse_u64(&p, end);
      parse_u64(&p, end);
      parse_u64(&p, end);
      out[4] = (double)parse_u64(&p, end) * page;
      struct stat fd_stat, task_stat;
      fstat(fd_dir, &fd_stat);
      out[6] = (double)fd_stat.st_size - 1;
      fstat(task_dir, &task_stat);
      out[9] = (double)task_stat.st_nlink - 2;
      struct rlimit rl;
      getrlimit(RLIMIT_NOFILE, &rl);
      out[7] = (double)rl.rlim_cur;
      out[8] = (double)rl.rlim_max;
      sink = out[0] + out[2] + out[6] + out[9] + out[7] + out[15];
    }
    printf("%s%.1f", s ? "," : "", (now_ns() - start) / (double)calls);
  }
  printf("]}\n");
  return 0;
}
