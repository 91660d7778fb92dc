// Which thread reports the process-wide metrics, so that they are reported
// once per process however many threads, and however many copies of
// procmeter, register them. Two levels, both asked at every collection:
//
// - this copy of the addon: an atomic in the shared library, the one piece
//   of state it shares across worker threads, on purpose;
// - every copy of procmeter in the process, native or JavaScript: an int64
//   in a SharedArrayBuffer that JavaScript publishes in worker_threads
//   environment data (src/claim-cell.ts). Worker threads started before it
//   was made do not inherit it; among them the first level still keeps each
//   addon copy to one thread.
//
// Each evaluation of procmeter's JavaScript has a token of its own (several
// share one addon instance when a thread evaluates procmeter again), so
// only one of them holds the shared cell.
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
  ~ProcessClaim() { ReleaseAll(); }
  ProcessClaim(const ProcessClaim&) = delete;
  ProcessClaim& operator=(const ProcessClaim&) = delete;

  // Joins the claim shared by every copy; the first call wins (procmeter
  // evaluated again in this thread brings the same cell). `cell` (0:
  // unclaimed, else the holder's token) must stay valid until this object
  // is destroyed: the addon keeps a reference to the array it came in
  // (JavaScript's SharedArrayBuffer, also kept in the thread's environment
  // data) until after this object is gone.
  // True if `cell` was taken (the first call).
  bool ShareCell(int64_t* cell);

  // True if the evaluation with `token` holds the claim now (taking it when
  // free). `token` is never 0.
  bool Claim(int64_t token);
  // Gives the claim up where `token` holds it: the shared cell, and the
  // copy's claim once neither the evaluation that took it nor the one that
  // holds the cell still does (an evaluation that never claimed, shutting
  // down, gives up nothing).
  void Release(int64_t token);

 private:
  void ReleaseAll();

  const void* const owner_;
  int64_t* shared_cell_ = nullptr;
  // The token of this thread's evaluation that holds the shared cell, or 0.
  int64_t held_token_ = 0;
  // The token of the evaluation that took this copy's claim for this
  // thread, or 0.
  int64_t copy_claim_token_ = 0;
};

}  // namespace procmeter

#endif  // PROCMETER_PROCESS_CLAIM_H_
