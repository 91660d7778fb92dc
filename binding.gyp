# Two addons from one source tree:
#   procmeter_core: Node-API only, ABI-stable, the process sampler.
#   procmeter_v8:   also uses V8's C++ API (GC callbacks, heap statistics),
#                   so it is built per Node ABI (see scripts/prebuild.mjs).
# `node-gyp rebuild` builds both for the running Node. The prebuild script
# builds one at a time with GYP_DEFINES=procmeter_variant=core (or =v8).
{
  "variables": {
    "procmeter_variant%": "all",
    # The native sources' fingerprint, set by scripts/prebuild.mjs (see
    # native/source_stamp.h).
    "procmeter_source%": "unstamped",
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": [
      "NAPI_VERSION=8",
      "PROCMETER_SOURCE_STAMP=<(procmeter_source)",
      "NAPI_DISABLE_CPP_EXCEPTIONS",
      "NODE_ADDON_API_DISABLE_DEPRECATED",
      # A worker terminated while the addon loads makes Node-API calls fail
      # with a pending termination; without this, node-addon-api turns the
      # failed throw into a fatal error that aborts the whole process.
      "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
    ],
    "cflags!": ["-fexceptions"],
    "cflags_cc!": ["-fexceptions"],
    "cflags_cc": ["-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra"],
    # Resolve every symbol at load time: a missing one makes require() fail,
    # where the loader can fall back, instead of aborting at first call.
    "ldflags": ["-Wl,-z,now", "-Wl,-z,relro"],
  },
  "conditions": [
    ["procmeter_variant != 'v8'", {
      "targets": [{
        "target_name": "procmeter_core",
        "cflags_cc": ["-std=c++17"],
        "sources": [
          "native/addon_core.cc",
          "native/fork_watch.cc",
          "native/process_claim.cc",
          "native/process_sampler.cc",
          "native/procfs_parse.cc",
          "native/proc_directory.cc",
        ],
      }],
    }],
    ["procmeter_variant != 'core'", {
      "targets": [{
        # No -std here: V8's headers decide (C++17 up to Node 22, C++20
        # after), through the common.gypi of the Node they come from.
        "target_name": "procmeter_v8",
        "sources": [
          "native/addon_v8.cc",
          "native/gc_tracker.cc",
          "native/heap_sampler.cc",
          "native/young_spaces.cc",
          "native/fork_watch.cc",
          "native/process_claim.cc",
          "native/process_sampler.cc",
          "native/procfs_parse.cc",
          "native/proc_directory.cc",
        ],
      }],
    }],
  ],
}
