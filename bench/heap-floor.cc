// The floor for the V8 half of a snapshot: the heap statistics calls
// procmeter_v8 makes for collect() (GetHeapStatistics, then
// GetHeapSpaceStatistics for every space), in a C++ loop with no Node-API
// and no JavaScript in between. bench/collect.mjs adds it to the C floor of
// the syscalls to get the cost of the same work done with nothing around it.
//
// Built by bench/collect.mjs against the running Node's own headers.
// run(calls) returns the nanoseconds per call of `calls` calls.
#include <node.h>
#include <time.h>
#include <v8.h>

namespace {

volatile double sink;

double NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

void Run(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  const double calls = info[0]->NumberValue(isolate->GetCurrentContext()).FromMaybe(1);
  const size_t spaces = isolate->NumberOfHeapSpaces();
  const double start = NowNs();
  for (double call = 0; call < calls; ++call) {
    v8::HeapStatistics heap;
    isolate->GetHeapStatistics(&heap);
    double total = static_cast<double>(heap.total_heap_size() + heap.used_heap_size() + heap.total_available_size() +
                                       heap.total_physical_size() + heap.total_heap_size_executable() +
                                       heap.heap_size_limit() + heap.malloced_memory() + heap.peak_malloced_memory() +
                                       heap.external_memory() + heap.number_of_native_contexts() +
                                       heap.number_of_detached_contexts());
    for (size_t i = 0; i < spaces; ++i) {
      v8::HeapSpaceStatistics space;
      isolate->GetHeapSpaceStatistics(&space, i);
      total += static_cast<double>(space.space_size() + space.space_used_size() + space.space_available_size() +
                                   space.physical_space_size());
    }
    sink = total;
  }
  info.GetReturnValue().Set((NowNs() - start) / calls);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "run", Run);
}
