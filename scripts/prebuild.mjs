#!/usr/bin/env node
// `npm run prebuild`: builds, with prebuildify, the binaries the package
// ships in prebuilds/<platform>-<arch>/:
//   procmeter_core.glibc.node             one per architecture (Node-API)
//   procmeter_v8.abi<N>.glibc.node        one per architecture and Node ABI
// Headers come from the registry's node-linux-<arch> packages (never from
// nodejs.org); arm64 is cross-compiled with Debian's aarch64 toolchain.
// Binaries are stripped. Options: --arch x64,arm64  --node 20,22,24,26
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { nativeSourceHash } from './lib/native-sources.mjs';
import { SUPPORTED_NODE_MAJORS, fetchNode } from './lib/node-dist.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    arch: { type: 'string', default: 'x64,arm64' },
    node: { type: 'string', default: SUPPORTED_NODE_MAJORS.join(',') },
  },
});

const TOOLCHAINS = {
  x64: { prefix: '' },
  arm64: { prefix: 'aarch64-linux-gnu-' },
};

// node-gyp builds in its working directory, so build in a staging copy and
// leave the developer's build/ alone.
const staging = mkdtempSync(join(tmpdir(), 'procmeter-prebuild-'));
cpSync(join(root, 'binding.gyp'), join(staging, 'binding.gyp'));
cpSync(join(root, 'package.json'), join(staging, 'package.json'));
cpSync(join(root, 'native'), join(staging, 'native'), { recursive: true });
symlinkSync(join(root, 'node_modules'), join(staging, 'node_modules'));
// Compiled into each binary, for scripts/pack-tarball.mjs to check.
const sourceHash = nativeSourceHash(staging);

function prebuildify(variant, arch, node, extraArgs) {
  const { prefix } = TOOLCHAINS[arch];
  const env = {
    ...process.env,
    GYP_DEFINES: `procmeter_variant=${variant} procmeter_source=${sourceHash}`,
    npm_config_nodedir: node.dir, // node-gyp: use these headers, download nothing
    PREBUILD_STRIP_BIN: `${prefix}strip`,
  };
  if (prefix) Object.assign(env, { CC: `${prefix}gcc`, CXX: `${prefix}g++`, LINK: `${prefix}g++`, AR: `${prefix}ar` });
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'prebuildify', 'bin.js'),
      // Not --quiet, which throws node-gyp's output away, compiler errors too.
      '--strip', '--tag-libc',
      '--name', `procmeter_${variant}`,
      '--arch', arch,
      '--target', `node@${node.version}`,
      '--cwd', staging,
      '--out', root,
      ...extraArgs,
    ],
    { env, stdio: 'inherit' },
  );
  if (result.status !== 0) throw new Error(`prebuildify ${variant} for ${arch} Node ${node.version} failed`);
}

try {
  for (const arch of args.arch.split(',')) {
    const majors = args.node.split(',').map(Number);
    const out = join(root, 'prebuilds', `linux-${arch}`);
    // Building them all: nothing of an earlier run (a dropped Node major, an
    // older layout) stays to be packed. (--node for some keeps the others.)
    if (SUPPORTED_NODE_MAJORS.every((major) => majors.includes(major))) rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    // The Node-API addon needs headers of any supported Node: the oldest.
    prebuildify('core', arch, fetchNode(Math.min(...majors), arch), ['--napi']);
    for (const major of majors) {
      const node = fetchNode(major, arch);
      process.stderr.write(`procmeter_v8 for ${arch} Node ${node.version}\n`);
      prebuildify('v8', arch, node, ['--no-napi']);
    }
  }
} finally {
  rmSync(staging, { recursive: true, force: true });
}
