#!/usr/bin/env node
// `npm run tarball [-- <destination directory>]`: the package as it is
// published. npm packs package.json as it is on disk, and the clone's
// `prepare` (which builds on `npm install` in a clone) would ship with it:
// npm 11 lists it as an install script to approve when the tarball is
// installed from a file or a URL (from the registry it does not run it).
// So this builds the JavaScript, stages the files `npm pack` would take in
// a temporary directory with a manifest that has no scripts (none of them
// work outside a clone), and packs there. Publish the tarball this makes
// (`npm publish procmeter-<version>.tgz`); `npm pack` and `npm publish` in
// the clone stop at prepack, which this skips (--ignore-scripts).
//
// `files` also names the addon built in place (build/Release): npm packs a
// git dependency's clone after its `prepare` with that list, which is how
// such an install keeps the binary it built. The published tarball leaves
// it out; it carries the prebuilds.
//
// binding.gyp goes in as native/binding.gyp: pnpm and yarn take a
// binding.gyp at a package's root for an install script (`node-gyp
// rebuild`) whatever "gypfile" says, which pnpm 10 reports as a build to
// approve and older pnpm runs, failing the install where there is no
// compiler. The README's build-in-place steps copy it back.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isMainModule } from './lib/main-module.mjs';
import { binariesNotFrom } from './lib/native-sources.mjs';
import { SUPPORTED_NODE_MAJORS, fetchNode } from './lib/node-dist.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const GYP_FILE = 'binding.gyp';
const STAGED_GYP_FILE = 'native/binding.gyp';
const BUILT_IN_PLACE = 'build/';
// All that a published tarball holds.
const PUBLISHED = [/^dist\//, /^prebuilds\//, /^native\//, /^README\.md$/, /^LICENSE$/, /^package\.json$/];

function npmPackJson(cwd, args) {
  const output = execFileSync('npm', ['pack', '--ignore-scripts', '--json', ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(output)[0];
}

export const PREBUILD_ARCHES = ['x64', 'arm64'];

/**
 * The prebuilds a published package holds: per architecture, the
 * Node-API-only binary and one V8 binary per supported Node major's ABI.
 * (The ABIs come from the registry's Node builds, which npm run prebuild
 * fetched into the cache.)
 */
function expectedPrebuilds() {
  // This machine's builds, which run here.
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const abis = SUPPORTED_NODE_MAJORS.map((major) => execFileSync(fetchNode(major, arch).bin, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).trim());
  return PREBUILD_ARCHES.flatMap((arch) => [
    `prebuilds/linux-${arch}/procmeter_core.glibc.node`,
    ...abis.map((abi) => `prebuilds/linux-${arch}/procmeter_v8.abi${abi}.glibc.node`),
  ]).sort();
}

// Packs the clone (its dist and prebuilds as they are) into `destination`;
// returns npm's description of the tarball plus its path. The prebuilds
// must be exactly the expected set: a missing one would send its users to
// the fallback, a stale one ship a binary nothing tests.
export function packTarball(destination) {
  // dist/ as src/ is now: `npm pack --ignore-scripts` would take any dist/ on disk.
  // (tsc reports its errors on stdout: to stderr with them, stdout stays the script's.)
  execFileSync('npm', ['run', '--silent', 'compile:ts'], { cwd: root, stdio: ['ignore', process.stderr, 'inherit'] });
  const listed = npmPackJson(root, ['--dry-run']);
  const prebuilds = listed.files.map((f) => f.path).filter((path) => path.startsWith('prebuilds/')).sort();
  const expected = expectedPrebuilds();
  if (JSON.stringify(prebuilds) !== JSON.stringify(expected)) {
    const missing = expected.filter((path) => !prebuilds.includes(path));
    const extra = prebuilds.filter((path) => !expected.includes(path));
    throw new Error(`the prebuilds are not the expected set (run npm run prebuild):${missing.map((p) => `\n  missing ${p}`).join('')}${extra.map((p) => `\n  unexpected ${p}`).join('')}`);
  }
  // Built before the latest change to native/: the loader would take them
  // (same snapshot layout), with the bugs that change fixed.
  const stale = binariesNotFrom(root, prebuilds.map((path) => join(root, path)));
  if (stale.length > 0) {
    throw new Error(`prebuilds built from other native sources than these (run npm run prebuild):${stale.map((p) => `\n  ${p}`).join('')}`);
  }
  // native/ ships whole: a scratch file left there (untracked) must not.
  // (Outside a git checkout, a copy of the sources, there is no telling.)
  const tracked = trackedFiles(['native', GYP_FILE]);
  const untracked =
    tracked === undefined ? [] : listed.files.map((f) => f.path).filter((path) => (path.startsWith('native/') || path === GYP_FILE) && !tracked.has(path));
  if (untracked.length > 0) throw new Error(`native sources that git does not track would ship (commit or remove them):\n${untracked.join('\n')}`);
  const stage = mkdtempSync(join(tmpdir(), 'procmeter-stage-'));
  try {
    const expectedFiles = [];
    for (const { path } of listed.files) {
      if (path === 'package.json' || path.startsWith(BUILT_IN_PLACE)) continue;
      const stagedPath = path === GYP_FILE ? STAGED_GYP_FILE : path;
      mkdirSync(dirname(join(stage, stagedPath)), { recursive: true });
      cpSync(join(root, path), join(stage, stagedPath), { preserveTimestamps: true });
      expectedFiles.push(stagedPath);
    }
    if (!expectedFiles.includes(STAGED_GYP_FILE)) throw new Error(`${GYP_FILE} is not in the files npm packs`);
    const { scripts, ...manifest } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    // native/ carries it now; the prebuilds stand for the build in place.
    manifest.files = manifest.files.filter((entry) => entry !== GYP_FILE && !entry.startsWith(BUILT_IN_PLACE));
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    expectedFiles.push('package.json');
    mkdirSync(destination, { recursive: true });
    const packed = npmPackJson(stage, ['--pack-destination', destination]);
    const stagedFiles = packed.files.map((f) => f.path).sort();
    expectedFiles.sort();
    if (JSON.stringify(stagedFiles) !== JSON.stringify(expectedFiles)) {
      throw new Error(`the staged tarball's files differ from the clone's:\n${stagedFiles.join('\n')}\n---\n${expectedFiles.join('\n')}`);
    }
    const strays = stagedFiles.filter((path) => !PUBLISHED.some((allowed) => allowed.test(path)));
    if (strays.length > 0) throw new Error(`the tarball would hold files outside its allowlist:\n${strays.join('\n')}`);
    return { ...packed, path: join(destination, packed.filename) };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function trackedFiles(paths) {
  try {
    return new Set(execFileSync('git', ['ls-files', '--', ...paths], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n'));
  } catch {
    return undefined;
  }
}

if (isMainModule(import.meta.url)) {
  const packed = packTarball(resolve(process.argv[2] ?? root));
  console.log(`${packed.path}: ${(packed.size / 1024).toFixed(0)} kB, ${packed.entryCount} files`);
}
