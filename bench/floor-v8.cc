// The floors for a whole snapshot, timed inside Node, with no Node-API and
// no JavaScript between the calls: C++ loops doing what procmeter_v8 does
// for collect(), in the same process as procmeter (same threads, same open
// fds, same heap), so bench/collect.mjs can time them side by side with it.
//
//   syscalls(calls)  the process syscalls alone (floor_sample.h)
//   heap(calls)      the V8 heap statistics calls alone: GetHeapStatistics,
//                    then GetHeapSpaceStatistics for every space
//   sameWork(calls)  both, one after the other, as one snapshot makes them
//
// Each returns the nanoseconds per call over `calls` calls. Built by
// bench/collect.mjs against the running Node's own headers.
#include <node.h>
#include <time.h>
#include <v8.h>

#include "floor_sample.h"

namespace {

volatile double sink;

double NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double ReadHeap(v8::Isolate* isolate, size_t spaces) {
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
  return total;
}

template <bool kSyscalls, bool kHeap>
void Run(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  const double calls = info[0]->NumberValue(isolate->GetCurrentContext()).FromMaybe(1);
  const size_t spaces = isolate->NumberOfHeapSpaces();
  // Opened at the first call and kept, as procmeter keeps its fds: opening
  // them in every call would also warm the caches right before the timed
  // loop, which matters when a call is timed alone (bench --spaced).
  static const floor_fds fds = floor_open();
  const double start = NowNs();
  for (double call = 0; call < calls; ++call) {
    double out[16];
    double total = 0;
    if (kSyscalls) total += floor_sample(&fds, out);
    if (kHeap) total += ReadHeap(isolate, spaces);
    sink = total;
  }
  const double ns_per_call = (NowNs() - start) / calls;
  info.GetReturnValue().Set(ns_per_call);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "syscalls", (Run<true, false>));
  NODE_SET_METHOD(exports, "heap", (Run<false, true>));
  NODE_SET_METHOD(exports, "sameWork", (Run<true, true>));
}
