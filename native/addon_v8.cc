// procmeter_v8: the process sampler plus V8 GC and heap statistics. It uses
// V8's C++ API, which is not ABI-stable, so it is built per Node ABI and
// touches V8 only after JavaScript has called start(), having checked that
// nodeModuleVersion and v8Version match the running Node.
#include <napi.h>
#include <v8-version.h>
#include <v8.h>

// node_version.h (for NODE_MODULE_VERSION) also defines NAPI_VERSION as the
// highest the runtime offers; keep the one pinned in binding.gyp.
#pragma push_macro("NAPI_VERSION")
#undef NAPI_VERSION
#include <node_version.h>
#undef NAPI_VERSION
#pragma pop_macro("NAPI_VERSION")

#include <memory>
#include <new>

#include "gc_tracker.h"
#include "heap_sampler.h"
#include "process_addon.h"
#include "snapshot_layout.h"
#include "source_stamp.h"
#include "typed_array_arg.h"

namespace procmeter {

// Per-environment state, so each worker thread has its own isolate's
// callbacks, counters and fds; nothing is shared between threads.
class V8Addon : public ProcessAddon<V8Addon> {
 public:
  V8Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("start", &V8Addon::Start),
        InstanceMethod("attach", &V8Addon::Attach),
        InstanceMethod("sample", &V8Addon::Sample),
        InstanceMethod("drainGcPauses", &V8Addon::DrainGcPauses),
        InstanceMethod("distrustHeap", &V8Addon::DistrustHeap),
        InstanceMethod("close", &V8Addon::CloseAll),
        InstanceMethod("setFallbackStartTime", &V8Addon::SetFallbackStartTime),
        InstanceMethod("shareClaimCell", &V8Addon::ShareClaimCell),
        InstanceMethod("claimProcessMetrics", &V8Addon::ClaimProcess),
        InstanceMethod("releaseProcessMetrics", &V8Addon::ReleaseProcess),
        InstanceValue("layoutSignature", Napi::String::New(env, kLayoutSignature)),
        InstanceValue("sourceStamp", Napi::String::New(env, kSourceStamp)),
        InstanceValue("variant", Napi::String::New(env, "v8")),
        InstanceValue("nodeModuleVersion", Napi::Number::New(env, NODE_MODULE_VERSION)),
        InstanceValue("v8Version", Napi::String::New(env, PROCMETER_STRINGIFY(V8_MAJOR_VERSION) "." PROCMETER_STRINGIFY(
                                                              V8_MINOR_VERSION))),
        InstanceValue("pauseRingCapacity", Napi::Number::New(env, GcTracker::kPauseRingCapacity)),
    });
  }

  ~V8Addon() {
    // The cleanup hook normally ran already (hooks run in reverse order of
    // registration, and Node-API's own, which destroys this object, was
    // registered when the addon loaded, before start()).
    if (cleanup_hook_added_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    if (gc_) gc_->Uninstall();
  }

 private:
  // start(trackGc = true): reads the heap layout, installs the GC callbacks
  // unless trackGc is false, and returns
  // { heapSpaceNames: string[], heapTrusted: boolean }. Idempotent.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!heap_) {
      v8::Isolate* isolate = v8::Isolate::GetCurrent();
      // Built without exceptions, a failed `new` would abort the process:
      // ask for nullptr instead and report what cannot be had as NaN.
      heap_.reset(new (std::nothrow) HeapSampler(isolate));
      if (!heap_) return Napi::Value();
      const bool track_gc = info.Length() == 0 || !info[0].IsBoolean() || info[0].As<Napi::Boolean>().Value();
      if (track_gc) {
        gc_.reset(new (std::nothrow) GcTracker(isolate, heap_.get()));
        if (gc_) gc_->Install();
      }
      // Remove the callbacks while the isolate is still alive and no GC can
      // be running: from the environment's cleanup, never a finalizer.
      env_ = env;
      if (napi_add_env_cleanup_hook(env, CleanupHook, this) == napi_ok) cleanup_hook_added_ = true;
    }
    Napi::Object result = Napi::Object::New(env);
    Napi::Array names = Napi::Array::New(env, heap_->space_count());
    for (size_t i = 0; i < heap_->space_count(); ++i) {
      names.Set(static_cast<uint32_t>(i), Napi::String::New(env, heap_->space_name(i)));
    }
    result.Set("heapSpaceNames", names);
    result.Set("heapTrusted", Napi::Boolean::New(env, heap_->trusted()));
    return result;
  }

  // sample() fills the attached array; sample(buffer) a caller's array.
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    double* slots = TargetSlots(info);
    if (slots == nullptr) return Napi::Value();
    // The V8 reads first, the syscalls last: with page-table isolation each
    // syscall leaves the TLB cold for whatever runs next, and this order was
    // about 1% faster per sample, measured side by side.
    if (heap_) heap_->Sample(slots);
    else HeapSampler::WriteUnavailable(slots);
    if (gc_) gc_->Read(slots);
    else GcTracker::WriteUntracked(slots);
    SampleProcess(slots);
    return Napi::Value();
  }

  // close(): gives back the kept fds and removes the GC callbacks, for a
  // binary the loader turns down after start() (called from JavaScript,
  // so never inside a GC).
  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    if (gc_) gc_->Uninstall();
    return Close(info);
  }

  // distrustHeap(): see HeapSampler::Distrust.
  Napi::Value DistrustHeap(const Napi::CallbackInfo&) {
    if (heap_) heap_->Distrust();
    return Napi::Value();
  }

  // drainGcPauses(out: Float64Array): moves pauses into `out` as
  // (kind, seconds) pairs; returns how many pauses it moved.
  Napi::Value DrainGcPauses(const Napi::CallbackInfo& info) {
    size_t length = 0;
    double* out = Float64ArrayData(info.Env(), info[0], 0, &length);
    if (out == nullptr) return Napi::Value();
    const size_t moved = gc_ ? gc_->DrainPauses(out, length / 2) : 0;
    return Napi::Number::New(info.Env(), static_cast<double>(moved));
  }

  static void CleanupHook(void* data) {
    auto* self = static_cast<V8Addon*>(data);
    self->cleanup_hook_added_ = false;
    if (self->gc_) self->gc_->Uninstall();
  }

  std::unique_ptr<HeapSampler> heap_;
  std::unique_ptr<GcTracker> gc_;
  napi_env env_ = nullptr;
  bool cleanup_hook_added_ = false;
};

}  // namespace procmeter

using procmeter::V8Addon;
NODE_API_ADDON(V8Addon)
