// The floor for one process snapshot: the same syscalls procmeter's native
// sampler makes (floor_sample.h), in plain C in a process of its own, with
// no Node-API in between.
//
// getrusage(RUSAGE_SELF) sums over every thread of the process, so the
// floor starts as many (idle) threads as the Node process it is compared with.
//
// With a pause, each sample first sleeps that long: the cost of a call at
// collection intervals, when the caches (and, on a VM, the vCPU) are cold.
//
// usage: floor <target open fds> <threads> <calls per sample> <samples> [pause ms]
// prints: {"openFds":N,"threads":T,"nsPerOp":[sample, ...]}
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "floor_sample.h"

static volatile double sink;
static atomic_long threads_started;

static void* idle_thread(void* unused) {
  (void)unused;
  atomic_fetch_add(&threads_started, 1);
  for (;;) pause();
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: floor <target open fds> <threads> <calls per sample> <samples> [pause ms]\n");
    return 2;
  }
  const long target_fds = atol(argv[1]);
  const long threads = atol(argv[2]);
  const long calls = atol(argv[3]);
  const long samples = atol(argv[4]);
  const long pause_ms = argc == 6 ? atol(argv[5]) : 0;
  for (long t = 1; t < threads; ++t) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, idle_thread, NULL) != 0) {
      perror("pthread_create");
      return 1;
    }
  }

  const struct floor_fds fds = floor_open();
  struct stat st;
  fstat(fds.fd_dir, &st);
  for (long open_fds = st.st_size; open_fds < target_fds; ++open_fds) {
    if (open("/dev/null", O_RDONLY) < 0) {
      perror("open");
      return 1;
    }
  }
  fstat(fds.fd_dir, &st);
  const long open_fds = (long)st.st_size;

  // Timed only once every thread is up and the caches are warm: started
  // anew in every round of the benchmark, the floor would otherwise time
  // its own start-up at few fds (where nothing else comes in between).
  while (atomic_load(&threads_started) < threads - 1) sched_yield();
  for (long i = 0; i < calls; ++i) {
    double out[16];
    sink = floor_sample(&fds, out);
  }

  struct stat task_st;
  fstat(fds.task_dir, &task_st);
  printf("{\"openFds\":%ld,\"threads\":%ld,\"nsPerOp\":[", open_fds - 1, (long)task_st.st_nlink - 2);
  for (long s = 0; s < samples; ++s) {
    if (pause_ms > 0) {
      const struct timespec interval = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
      nanosleep(&interval, NULL);
    }
    const double start = now_ns();
    for (long i = 0; i < calls; ++i) {
      double out[16];
      sink = floor_sample(&fds, out);
    }
    printf("%s%.1f", s ? "," : "", (now_ns() - start) / (double)calls);
  }
  printf("]}\n");
  return 0;
}
