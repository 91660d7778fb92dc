// The slot array sample() writes into when called without an argument: a
// Float64Array that JavaScript created and handed over once with attach().
// Saves the per-call typed-array lookup (about 35 ns of a 1.3 us sample).
//
// The array's memory is V8's, kept alive by a strong reference to its
// buffer. procmeter's own array is a slice of Node's Buffer pool, never on
// the V8 heap (its data does not move), and untransferable. The raw binding
// takes any Float64Array, though, so every use checks that the buffer still
// holds the slots where they were (a transfer detaches it, a resizable one
// can shrink): a misuse of the binding gets a TypeError, never a write into
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

  // attach(array): keeps `array` (a Float64Array of at least `min_length`)
  // as the target of sample() without arguments.
  void Attach(const Napi::CallbackInfo& info, size_t min_length) {
    Napi::Env env = info.Env();
    napi_value buffer = nullptr;
    double* data = Float64ArrayData(env, info[0], min_length, nullptr, &buffer);
    if (data == nullptr) return;
    // A SharedArrayBuffer can neither be detached nor shrink: nothing to
    // check. (Node-API's ArrayBuffer functions refuse one.)
    bool unshared = false;
    if (napi_is_arraybuffer(env, buffer, &unshared) != napi_ok) return;
    void* base = nullptr;
    size_t byte_length = 0;
    if (unshared && napi_get_arraybuffer_info(env, buffer, &base, &byte_length) != napi_ok) return;
    napi_ref reference;
    if (napi_create_reference(env, buffer, 1, &reference) != napi_ok) return;
    if (reference_ != nullptr) napi_delete_reference(env, reference_);
    env_ = env;
    reference_ = reference;
    data_ = data;
    checked_ = unshared;
    base_ = base;
    // (Only an unshared buffer has a base to measure from.)
    end_offset_ = unshared ? static_cast<size_t>(reinterpret_cast<char*>(data) - static_cast<char*>(base)) + min_length * sizeof(double) : 0;
  }

  // The attached data, or nullptr (with a TypeError thrown) if none, or if
  // its buffer no longer holds it: detached (its memory may be another's
  // now) or shrunk.
  double* data(Napi::Env env) const {
    if (data_ == nullptr) {
      Napi::TypeError::New(env, "procmeter binding: sample() without a buffer needs attach(buffer) first")
          .ThrowAsJavaScriptException();
      return nullptr;
    }
    if (!checked_) return data_;
    napi_value buffer = nullptr;
    void* base = nullptr;
    size_t byte_length = 0;
    if (napi_get_reference_value(env, reference_, &buffer) != napi_ok || buffer == nullptr ||
        napi_get_arraybuffer_info(env, buffer, &base, &byte_length) != napi_ok || base != base_ ||
        byte_length < end_offset_) {
      Napi::TypeError::New(env, "procmeter binding: the attached array's buffer was detached or shrunk; attach(buffer) a new one")
          .ThrowAsJavaScriptException();
      return nullptr;
    }
    return data_;
  }

 private:
  napi_env env_ = nullptr;
  napi_ref reference_ = nullptr;  // to the array's buffer
  double* data_ = nullptr;
  bool checked_ = false;  // an ArrayBuffer (not shared): checked at every use
  void* base_ = nullptr;  // the buffer's data when attached
  size_t end_offset_ = 0;  // where the slots end, in bytes from base_
};

}  // namespace procmeter

#endif  // PROCMETER_ATTACHED_SLOTS_H_
