// The slot array a sampler writes into, owned by the addon instance and
// shown to JavaScript as a Float64Array over the same memory. A sample then
// needs no argument and no typed-array lookup: about 35 ns less per call.
#ifndef PROCMETER_SLOT_BUFFER_H_
#define PROCMETER_SLOT_BUFFER_H_

#include <napi.h>

#include <cstddef>
#include <limits>

namespace procmeter {

template <size_t kCount>
class SlotBuffer {
 public:
  SlotBuffer() {
    for (double& slot : slots_) slot = std::numeric_limits<double>::quiet_NaN();
  }
  SlotBuffer(const SlotBuffer&) = delete;
  SlotBuffer& operator=(const SlotBuffer&) = delete;

  double* data() { return slots_; }

  // Sets exports.slots. The memory belongs to this object, which lives as
  // long as the environment; the no-op finalizer never frees it, so even a
  // detached view cannot leave the native side writing to freed memory
  // (JavaScript also marks the buffer untransferable). Where V8 forbids
  // external buffers (sandboxed builds) `slots` is left out and JavaScript
  // passes its own array to sample(buffer) instead.
  void Export(Napi::Env env, Napi::Object exports) {
    napi_value array_buffer;
    napi_value typed_array;
    if (napi_create_external_arraybuffer(env, slots_, sizeof slots_, [](napi_env, void*, void*) {},
                                         nullptr, &array_buffer) != napi_ok ||
        napi_create_typedarray(env, napi_float64_array, kCount, array_buffer, 0, &typed_array) !=
            napi_ok) {
      // Clear the pending error, if any; `slots` is simply absent.
      napi_value ignored;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_get_and_clear_last_exception(env, &ignored);
      }
      return;
    }
    exports.Set("slots", Napi::Value(env, typed_array));
  }

 private:
  double slots_[kCount];
};

}  // namespace procmeter

#endif  // PROCMETER_SLOT_BUFFER_H_
