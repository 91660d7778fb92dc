// The fork watch in a child of fork(), wherever procmeter runs: the child
// must get its own pid, never the parent's, whether the watch uses its
// wipe-on-fork page or falls back to getpid() because the advice cannot be
// trusted (qemu-user before 8.0 accepts any madvise() and acts on none).
// Built and run by native-units.test.mjs natively and, with the aarch64
// cross compiler, under qemu-user.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "fork_watch.h"

using procmeter::ForkWatch;

int main() {
  ForkWatch watch;
  const pid_t parent = watch.Pid();
  const pid_t child = fork();
  if (child == 0) _exit(watch.Pid() == getpid() && watch.Pid() != parent ? 0 : 1);
  int status = 0;
  waitpid(child, &status, 0);
  const bool passed = WIFEXITED(status) && WEXITSTATUS(status) == 0 && watch.Pid() == parent && parent == getpid();
  std::printf("fork watch %s, using %s\n", passed ? "passed" : "FAILED: a child of fork() got the wrong pid",
              watch.wipes_on_fork() ? "its wipe-on-fork page" : "getpid() on every call");
  return passed ? 0 : 1;
}
