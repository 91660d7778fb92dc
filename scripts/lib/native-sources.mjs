// The fingerprint of the native sources (binding.gyp and native/), which
// scripts/prebuild.mjs compiles into every prebuild and
// scripts/pack-tarball.mjs looks for in each before packing: a prebuild
// left from before a change to native/ (its snapshot layout unchanged, so
// the loader would take it) must not ship.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/** What a binary built from the sources under `root` contains, as bytes. */
export const SOURCE_STAMP_PREFIX = 'procmeter-native-source:';

function filesUnder(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(directory, entry.name)) : [join(directory, entry.name)],
  );
}

/** 16 hex digits of SHA-256 over the native sources' paths and contents. */
export function nativeSourceHash(root) {
  const hash = createHash('sha256');
  const files = [join(root, 'binding.gyp'), ...filesUnder(join(root, 'native'))].sort();
  for (const file of files) hash.update(`${relative(root, file)}\0`).update(readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** The binaries among `paths` that were not built from the sources under `root`. */
export function binariesNotFrom(root, paths) {
  const stamp = Buffer.from(`${SOURCE_STAMP_PREFIX}${nativeSourceHash(root)}\0`);
  return paths.filter((path) => !readFileSync(path).includes(stamp));
}
