// procmeter_core: the Node-API-only addon (ABI-stable across Node majors).
// It samples the process; GC and heap figures come from procmeter_v8, or
// from JavaScript when no V8-specific binary fits the running Node.
#include <napi.h>

#include "process_claim.h"
#include "process_sampler.h"
#include "attached_slots.h"
#include "snapshot_layout.h"
#include "typed_array_arg.h"

namespace procmeter {

// Per-environment state: each worker thread that loads the addon gets its
// own instance (its own kept fds and slot buffer), released when that
// environment exits.
class CoreAddon : public Napi::Addon<CoreAddon> {
 public:
  CoreAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("attach", &CoreAddon::Attach),
        InstanceMethod("sample", &CoreAddon::Sample),
        InstanceMethod("close", &CoreAddon::Close),
        InstanceMethod("claimProcessMetrics", &CoreAddon::ClaimProcess),
        InstanceMethod("releaseProcessMetrics", &CoreAddon::ReleaseProcess),
        InstanceValue("layoutSignature", Napi::String::New(env, kLayoutSignature)),
        InstanceValue("variant", Napi::String::New(env, "core")),
    });
  }

  // The environment is going away: a claim must not outlive it.
  ~CoreAddon() { ReleaseProcessMetrics(this); }

 private:
  // attach(slots): see AttachedSlots.
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    attached_.Attach(info, kSlotCount);
    return Napi::Value();
  }

  // sample(): fills the attached Float64Array; sample(buffer) fills
  // `buffer` instead. Allocates nothing either way.
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    double* slots = info.Length() > 0 ? Float64ArrayData(info.Env(), info[0], kSlotCount)
                                      : attached_.data(info.Env());
    if (slots == nullptr) return Napi::Value();
    sampler_.Sample(slots);
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

  ProcessSampler sampler_;
  AttachedSlots attached_;
};

}  // namespace procmeter

using procmeter::CoreAddon;
NODE_API_ADDON(CoreAddon)
