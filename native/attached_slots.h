// The slot array sample() writes into when called without an argument: a
// Float64Array that JavaScript created and handed over once with attach().
// Saves the per-call typed-array lookup (about 35 ns of a 1.3 us sample).
//
// The array's memory is V8's, kept alive by a strong reference; it is a
// slice of Node's Buffer pool, never on the V8 heap, so its data does not
// move, and the pool is untransferable, so it cannot be detached under us.
// (An external buffer over addon-owned memory would avoid even that, but
// Node 24 detaches external buffers at exit, which aborts the process when
// such a buffer is marked untransferable.)
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

  // attach(array): keeps `array` (a Float64Array of at least `min_length`)
  // as the target of sample() without arguments.
  void Attach(const Napi::CallbackInfo& info, size_t min_length) {
    Napi::Env env = info.Env();
    double* data = Float64ArrayData(env, info[0], min_length);
    if (data == nullptr) return;
    napi_ref reference;
    if (napi_create_reference(env, info[0], 1, &reference) != napi_ok) return;
    if (reference_ != nullptr) napi_delete_reference(env, reference_);
    env_ = env;
    reference_ = reference;
    data_ = data;
  }

  // The attached data, or nullptr (with a TypeError thrown) if none.
  double* data(Napi::Env env) const {
    if (data_ == nullptr) {
      Napi::TypeError::New(env, "procmeter binding: sample() without a buffer needs attach(buffer) first")
          .ThrowAsJavaScriptException();
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
