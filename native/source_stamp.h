// Which native sources a binary was built from: scripts/prebuild.mjs passes
// their fingerprint (scripts/lib/native-sources.mjs) as a gyp variable, and
// scripts/pack-tarball.mjs refuses a prebuild that does not hold the
// current one. Other builds (node-gyp in a clone or an installed package)
// are "unstamped". Exported as sourceStamp, which also keeps it in the binary.
#ifndef PROCMETER_SOURCE_STAMP_H_
#define PROCMETER_SOURCE_STAMP_H_

#ifndef PROCMETER_SOURCE_STAMP
#define PROCMETER_SOURCE_STAMP unstamped
#endif

// A macro's value as a string literal (addon_v8.cc's V8 version, too).
#define PROCMETER_STRINGIFY_(token) #token
#define PROCMETER_STRINGIFY(token) PROCMETER_STRINGIFY_(token)

namespace procmeter {

inline constexpr const char kSourceStamp[] = "procmeter-native-source:" PROCMETER_STRINGIFY(PROCMETER_SOURCE_STAMP);

}  // namespace procmeter

#endif  // PROCMETER_SOURCE_STAMP_H_
