// Which thread reports the process-wide metrics, so that they are reported
// once per process however many threads, and however many copies of
// procmeter, register them. Two levels, both asked at every collection:
//
// - this copy of the addon: an atomic in the shared library, the one piece
//   of state it shares across worker threads, on purpose;
// - every copy of procmeter in the process, native or JavaScript: an int64
//   in a SharedArrayBuffer that JavaScript publishes in worker_threads
//   environment data (src/claim-cell.ts). Worker threads started before any
//   copy first loaded do not inherit it; among them the first level still
//   keeps each addon copy to one thread.
#ifndef PROCMETER_PROCESS_CLAIM_H_
#define PROCMETER_PROCESS_CLAIM_H_

#include <cstdint>

namespace procmeter {

class ProcessClaim {
 public:
  // `owner`: the environment's addon instance, unique among live threads.
  explicit ProcessClaim(const void* owner) : owner_(owner) {}
  // The environment is going away: a claim must not outlive it, also when
  // the worker was terminated and no JavaScript gives it back.
  ~ProcessClaim() { Release(); }
  ProcessClaim(const ProcessClaim&) = delete;
  ProcessClaim& operator=(const ProcessClaim&) = delete;

  // Joins the claim shared by every copy: `cell` (0: unclaimed, else the
  // holder's token) stays valid while this environment's JavaScript holds
  // its SharedArrayBuffer, which it does until the environment is torn
  // down, after this object. The first call wins; later ones (procmeter
  // evaluated again in this thread) bring the same cell and token.
  void ShareCell(int64_t* cell, int64_t token);

  // True if this thread holds the claim now (taking it when free).
  bool Claim();
  // Gives the claim up at both levels, where this thread holds it.
  void Release();

 private:
  void ReleaseSharedCell();

  const void* const owner_;
  int64_t* shared_cell_ = nullptr;
  int64_t token_ = 0;
};

}  // namespace procmeter

#endif  // PROCMETER_PROCESS_CLAIM_H_
