// What both addons (procmeter_core and procmeter_v8) do for the process: the
// sampler and its attached slot array, close(), and the process-metrics
// claim. Each addon derives from this and adds its own methods.
#ifndef PROCMETER_PROCESS_ADDON_H_
#define PROCMETER_PROCESS_ADDON_H_

#include <napi.h>

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
 public:
  // The environment is going away: a claim must not outlive it.
  ~ProcessAddon() { ReleaseProcessMetrics(this); }

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

  // claimProcessMetrics(): true if this thread is (now) the one that
  // reports the process-wide metrics. releaseProcessMetrics() gives it up.
  Napi::Value ClaimProcess(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), ClaimProcessMetrics(this));
  }

  Napi::Value ReleaseProcess(const Napi::CallbackInfo&) {
    ReleaseProcessMetrics(this);
    return Napi::Value();
  }

  // Where sample() writes and the process slots sampled into it: the
  // attached array, or sample(buffer)'s argument. nullptr (with a
  // TypeError thrown) when neither is usable. Allocates nothing.
  double* SampleProcess(const Napi::CallbackInfo& info) {
    double* slots = info.Length() > 0 ? Float64ArrayData(info.Env(), info[0], kSlotCount)
                                      : attached_.data(info.Env());
    if (slots != nullptr) sampler_.Sample(slots);
    return slots;
  }

 private:
  ProcessSampler sampler_;
  AttachedSlots attached_;
};

}  // namespace procmeter

#endif  // PROCMETER_PROCESS_ADDON_H_
