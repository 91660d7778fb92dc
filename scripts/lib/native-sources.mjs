// The fingerprint of the native sources (binding.gyp and native/), which
// scripts/prebuild.mjs compiles into every prebuild and
// scripts/pack-tarball.mjs looks for in each before packing: a prebuild
// left from before a change to native/ (its snapshot layout unchanged, so
// the loader would take it) must not ship.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

// What a binary built from the sources under `root` contains (native/source_stamp.h), then the hash.
const SOURCE_STAMP_PREFIX = 'procmeter-native-source:';

// What the compiler reads: an editor's swap file or a cache beside them
// must not make every prebuild look stale.
const SOURCE_FILE = /\.(cc|h|def)$/;

function sourcesUnder(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    return SOURCE_FILE.test(entry.name) ? [path] : [];
  });
}

/**
 * 'h' and 16 hex digits of SHA-256 over the native sources' paths and
 * contents and the node-addon-api version (its headers are compiled in).
 * The letter keeps gyp from reading an all-digit value as a number.
 */
export function nativeSourceHash(root) {
  const hash = createHash('sha256');
  const files = [join(root, 'binding.gyp'), ...sourcesUnder(join(root, 'native'))].sort();
  for (const file of files) hash.update(`${relative(root, file)}\0`).update(readFileSync(file)).update('\0');
  const addonApi = JSON.parse(readFileSync(join(root, 'node_modules', 'node-addon-api', 'package.json'), 'utf8'));
  hash.update(`node-addon-api@${addonApi.version}`);
  return `h${hash.digest('hex').slice(0, 16)}`;
}

/** The binaries among `paths` that were not built from the sources under `root`. */
export function binariesNotFrom(root, paths) {
  const stamp = Buffer.from(`${SOURCE_STAMP_PREFIX}${nativeSourceHash(root)}\0`);
  return paths.filter((path) => !readFileSync(path).includes(stamp));
}
