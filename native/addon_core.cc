// procmeter_core: the Node-API-only addon (ABI-stable across Node majors).
// It samples the process; GC and heap figures come from procmeter_v8, or
// from JavaScript when no V8-specific binary fits the running Node.
#include <napi.h>

#include "process_addon.h"
#include "snapshot_layout.h"
#include "source_stamp.h"

namespace procmeter {

class CoreAddon : public ProcessAddon<CoreAddon> {
 public:
  CoreAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("attach", &CoreAddon::Attach),
        InstanceMethod("sample", &CoreAddon::Sample),
        InstanceMethod("close", &CoreAddon::Close),
        InstanceMethod("setFallbackStartTime", &CoreAddon::SetFallbackStartTime),
        InstanceMethod("shareClaimCell", &CoreAddon::ShareClaimCell),
        InstanceMethod("claimProcessMetrics", &CoreAddon::ClaimProcess),
        InstanceMethod("releaseProcessMetrics", &CoreAddon::ReleaseProcess),
        InstanceValue("layoutSignature", Napi::String::New(env, kLayoutSignature)),
        InstanceValue("sourceStamp", Napi::String::New(env, kSourceStamp)),
        InstanceValue("variant", Napi::String::New(env, "core")),
    });
  }

 private:
  // sample(): fills the attached Float64Array's process slots;
  // sample(buffer) fills `buffer` instead. Allocates nothing either way.
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    double* slots = TargetSlots(info);
    if (slots != nullptr) SampleProcess(slots);
    return Napi::Value();
  }
};

}  // namespace procmeter

using procmeter::CoreAddon;
NODE_API_ADDON(CoreAddon)
