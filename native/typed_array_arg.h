// Argument checks shared by the addons' entry points.
#ifndef PROCMETER_TYPED_ARRAY_ARG_H_
#define PROCMETER_TYPED_ARRAY_ARG_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace procmeter {

// Returns the data of `value` if it is a typed array of `expected_type` with
// at least `min_length` elements; otherwise throws a TypeError with
// `message` and returns nullptr. One N-API call on the hot path. JavaScript
// validates user input first; this only keeps a misuse of the raw binding
// from touching bad memory.
inline void* TypedArrayData(Napi::Env env, napi_value value, napi_typedarray_type expected_type, size_t min_length,
                            const char* message, size_t* length_out, napi_value* buffer_out = nullptr) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, buffer_out, nullptr) != napi_ok ||
      type != expected_type || length < min_length || data == nullptr) {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
    return nullptr;
  }
  if (length_out != nullptr) *length_out = length;
  return data;
}

inline double* Float64ArrayData(Napi::Env env, napi_value value, size_t min_length,
                                size_t* length_out = nullptr, napi_value* buffer_out = nullptr) {
  return static_cast<double*>(TypedArrayData(env, value, napi_float64_array, min_length,
                                             "procmeter binding: expected a Float64Array of the snapshot layout's length",
                                             length_out, buffer_out));
}

// The data of a BigInt64Array on a SharedArrayBuffer (the process claim's
// cell), which cannot be detached. Node-API 8 has no SharedArrayBuffer check,
// but napi_is_arraybuffer() is true only for an unshared ArrayBuffer: such an
// array is refused, since its memory could be detached and freed while the
// claim still writes into it.
inline int64_t* SharedBigInt64ArrayData(Napi::Env env, napi_value value, size_t min_length) {
  constexpr const char* kMessage = "procmeter binding: expected a BigInt64Array on a SharedArrayBuffer";
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  bool unshared = true;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, nullptr) != napi_ok ||
      type != napi_bigint64_array || length < min_length || data == nullptr ||
      napi_is_arraybuffer(env, buffer, &unshared) != napi_ok || unshared) {
    Napi::TypeError::New(env, kMessage).ThrowAsJavaScriptException();
    return nullptr;
  }
  return static_cast<int64_t*>(data);
}

}  // namespace procmeter

#endif  // PROCMETER_TYPED_ARRAY_ARG_H_
