// What both addons (procmeter_core and procmeter_v8) do for the process: the
// sampler and its attached slot array, close(), and the process-metrics
// claim. Each addon derives from this and adds its own methods.
#ifndef PROCMETER_PROCESS_ADDON_H_
#define PROCMETER_PROCESS_ADDON_H_

#include <napi.h>

#include <utility>

#include "attached_slots.h"
#include "process_claim.h"
#include "process_sampler.h"
#include "snapshot_layout.h"
#include "typed_array_arg.h"

namespace procmeter {

// Per-environment state: each worker thread that loads an addon gets its own
// instance (its own kept fds and slot array), released when that
// environment exits. Nothing is shared between threads but the claim.
template <typename Derived>
class ProcessAddon : public Napi::Addon<Derived> {
 protected:
  // attach(slots): see AttachedSlots.
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    attached_.Attach(info, kSlotCount);
    return Napi::Value();
  }

  // close(): releases the kept fds early (tests and explicit teardown).
  Napi::Value Close(const Napi::CallbackInfo&) {
    sampler_.Close();
    return Napi::Value();
  }

  // setFallbackStartTime(seconds): the start time to report where
  // /proc/self/stat cannot be read at all (see ProcessSampler).
  Napi::Value SetFallbackStartTime(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsNumber()) sampler_.SetFallbackStartTime(info[0].As<Napi::Number>().DoubleValue());
    return Napi::Value();
  }

  // shareClaimCell(cell: BigInt64Array on a SharedArrayBuffer): joins the
  // claim every copy of procmeter in the process shares (see ProcessClaim).
  // The first cell is kept alive by a reference until the environment ends,
  // so the claim never writes into memory the garbage collector freed.
  Napi::Value ShareClaimCell(const Napi::CallbackInfo& info) {
    int64_t* cell = SharedBigInt64ArrayData(info.Env(), info[0], 1);
    if (cell == nullptr || !shared_cell_.IsEmpty()) return Napi::Value();
    // The reference first: the claim must never hold a cell nothing keeps.
    Napi::ObjectReference reference = Napi::Persistent(info[0].As<Napi::Object>());
    if (!reference.IsEmpty() && claim_.ShareCell(cell)) shared_cell_ = std::move(reference);
    return Napi::Value();
  }

  // claimProcessMetrics(token): true if the evaluation of procmeter with
  // this token is (now) the one that reports the process-wide metrics.
  // releaseProcessMetrics(token) gives it up.
  Napi::Value ClaimProcess(const Napi::CallbackInfo& info) {
    int64_t token = 0;
    if (!TokenArg(info, &token)) return Napi::Value();
    return Napi::Boolean::New(info.Env(), claim_.Claim(token));
  }

  Napi::Value ReleaseProcess(const Napi::CallbackInfo& info) {
    int64_t token = 0;
    if (TokenArg(info, &token)) claim_.Release(token);
    return Napi::Value();
  }

  // Where sample() writes: the attached array, or sample(buffer)'s
  // argument. nullptr (with a TypeError thrown) when neither is usable.
  double* TargetSlots(const Napi::CallbackInfo& info) {
    return info.Length() > 0 ? Float64ArrayData(info.Env(), info[0], kSlotCount) : attached_.data(info.Env());
  }

  // Fills the process slots of `slots`. Allocates nothing.
  void SampleProcess(double* slots) { sampler_.Sample(slots); }

 private:
  ProcessSampler sampler_;
  AttachedSlots attached_;
  // The array whose memory claim_ shares; declared first, so released after
  // claim_ has given the cell back.
  Napi::ObjectReference shared_cell_;
  // Released when the environment is torn down (terminate() included).
  ProcessClaim claim_{this};

  // A claim token: a non-zero BigInt that fits in int64. Throws otherwise.
  static bool TokenArg(const Napi::CallbackInfo& info, int64_t* token) {
    bool lossless = false;
    if (info.Length() > 0 && info[0].IsBigInt()) *token = info[0].As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless && *token != 0) return true;
    Napi::TypeError::New(info.Env(), "procmeter binding: expected a non-zero int64 BigInt token").ThrowAsJavaScriptException();
    return false;
  }
};

}  // namespace procmeter

#endif  // PROCMETER_PROCESS_ADDON_H_
