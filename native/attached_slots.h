// The slot array sample() writes into when called without an argument: a
// Float64Array that JavaScript created and handed over once with attach().
// Saves the per-call typed-array lookup (about 35 ns of a 1.3 us sample).
//
// The array's memory is V8's, kept alive by a strong reference to its
// buffer. procmeter's own array is a slice of Node's Buffer pool, never on
// the V8 heap (its data does not move), and untransferable. The raw binding
// takes any Float64Array, though, so a buffer that could change under the
// cached pointer is refused (resizable) or checked on every use (detached by
// a transfer): a misuse of the binding gets a TypeError, never a write into
// memory that is no longer the array's. (An external buffer over
// addon-owned memory would need no check, but Node 24 detaches external
// buffers at exit, which aborts the process when such a buffer is marked
// untransferable.)
#ifndef PROCMETER_ATTACHED_SLOTS_H_
#define PROCMETER_ATTACHED_SLOTS_H_

#include <napi.h>

#include <cstddef>

#include "typed_array_arg.h"

namespace procmeter {

class AttachedSlots {
 public:
  AttachedSlots() = default;
  AttachedSlots(const AttachedSlots&) = delete;
  AttachedSlots& operator=(const AttachedSlots&) = delete;

  ~AttachedSlots() {
    // The environment is going away with everything in it; only the
    // reference's own bookkeeping is left to free.
    if (reference_ != nullptr) napi_delete_reference(env_, reference_);
  }

  // attach(array): keeps `array` (a Float64Array of at least `min_length`,
  // on a buffer that cannot be resized) as the target of sample() without
  // arguments.
  void Attach(const Napi::CallbackInfo& info, size_t min_length) {
    Napi::Env env = info.Env();
    napi_value buffer = nullptr;
    double* data = Float64ArrayData(env, info[0], min_length, nullptr, &buffer);
    if (data == nullptr) return;
    napi_value resizable_value = nullptr;
    if (napi_get_named_property(env, buffer, "resizable", &resizable_value) != napi_ok) return;  // a getter threw
    bool resizable = false;  // stays false where the property is not a boolean (Node without resizable buffers)
    napi_get_value_bool(env, resizable_value, &resizable);
    if (resizable) {
      // It could shrink below the layout, or to nothing, after this check.
      Napi::TypeError::New(env, "procmeter binding: attach() needs a Float64Array on a buffer that cannot be resized")
          .ThrowAsJavaScriptException();
      return;
    }
    napi_ref reference;
    if (napi_create_reference(env, buffer, 1, &reference) != napi_ok) return;
    if (reference_ != nullptr) napi_delete_reference(env, reference_);
    env_ = env;
    reference_ = reference;
    data_ = data;
  }

  // The attached data, or nullptr (with a TypeError thrown) if none, or if
  // its buffer has been detached since (its memory may be another's now).
  double* data(Napi::Env env) const {
    if (data_ == nullptr) {
      Napi::TypeError::New(env, "procmeter binding: sample() without a buffer needs attach(buffer) first")
          .ThrowAsJavaScriptException();
      return nullptr;
    }
    napi_value buffer = nullptr;
    bool detached = true;
    if (napi_get_reference_value(env, reference_, &buffer) != napi_ok || buffer == nullptr ||
        napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached) {
      Napi::TypeError::New(env, "procmeter binding: the attached array's buffer was detached; attach(buffer) a new one")
          .ThrowAsJavaScriptException();
      return nullptr;
    }
    return data_;
  }

 private:
  napi_env env_ = nullptr;
  napi_ref reference_ = nullptr;
  double* data_ = nullptr;
};

}  // namespace procmeter

#endif  // PROCMETER_ATTACHED_SLOTS_H_
