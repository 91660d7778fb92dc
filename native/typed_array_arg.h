// Argument checks shared by the addons' entry points.
#ifndef PROCMETER_TYPED_ARRAY_ARG_H_
#define PROCMETER_TYPED_ARRAY_ARG_H_

#include <napi.h>

#include <cstddef>

namespace procmeter {

// Returns the data of `value` if it is a Float64Array of at least
// `min_length` elements; otherwise throws a TypeError and returns nullptr.
// One N-API call on the hot path. JavaScript validates user input first;
// this only keeps a misuse of the raw binding from touching bad memory.
inline double* Float64ArrayData(Napi::Env env, napi_value value, size_t min_length,
                                size_t* length_out = nullptr) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || length < min_length || data == nullptr) {
    Napi::TypeError::New(env, "procmeter binding: expected a Float64Array of the snapshot layout's length")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  if (length_out != nullptr) *length_out = length;
  return static_cast<double*>(data);
}

}  // namespace procmeter

#endif  // PROCMETER_TYPED_ARRAY_ARG_H_
