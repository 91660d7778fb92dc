#!/usr/bin/env node
// `npm run test:install`: the package as users get it. Packs the tarball,
// then in fresh temporary projects, with no compiler on PATH:
//   - npm install (defaults), npm install --ignore-scripts, pnpm add:
//     require() and import() report the native addon and a correct snapshot;
//   - a tarball without prebuilds: the install succeeds, the fallback is used;
//     compiled in place with the README's lines, the native addon is;
//   - the tarball on Node 20, 22, 24 and 26 (registry builds);
//   - the zero-code start with OpenTelemetry SDK 2.x (api 1.9) on Node 20
//     and SDK 3.x (api 1.10) on Node 24, scraped over HTTP;
//   - the Node-API-only prebuild (what Node majors without a V8 prebuild load);
//   - the arm64 prebuilds under qemu-user with the registry's arm64 Nodes.
// Needs the prebuilds (npm run prebuild) and, for arm64, qemu-user and the
// aarch64 C++ runtime (Debian: qemu-user, libstdc++6-arm64-cross).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { SUPPORTED_NODE_MAJORS, fetchNode } from './lib/node-dist.mjs';
import { packTarball } from './pack-tarball.mjs';
import { freePort } from '../test/helpers/net.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'procmeter-install-'));
const results = [];
// A failure before the results are in (packing, say) ends the script on a
// rejected top-level await: nothing to inspect then, nothing to keep.
process.on('exit', (code) => {
  if (code !== 0 && results.length === 0) rmSync(work, { recursive: true, force: true });
});

function record(name, fn) {
  return Promise.resolve()
    .then(fn)
    .then(
      (detail) => results.push({ name, ok: true, detail: detail ?? '' }),
      (error) => results.push({ name, ok: false, detail: error.stack ?? String(error) }),
    );
}

function spawnChecked(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

function run(command, args, options = {}) {
  return spawnChecked(command, args, options).stdout;
}

// stdout and stderr together, for the warnings a package manager prints.
function runWithOutput(command, args, options = {}) {
  const { stdout, stderr } = spawnChecked(command, args, options);
  return `${stdout}\n${stderr}`;
}

// A PATH with node and the package managers but no compiler, make or python:
// what a CI image or a slim production image offers.
function compilerFreePath(extraBins = []) {
  const bin = join(work, 'no-compiler-bin');
  mkdirSync(bin, { recursive: true });
  const link = (name, target) => {
    if (!existsSync(join(bin, name))) symlinkSync(target, join(bin, name));
  };
  link('node', process.execPath);
  const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin');
  link('npm', join(npmCli, 'npm-cli.js'));
  link('npx', join(npmCli, 'npx-cli.js'));
  for (const tool of ['sh', 'bash', 'env', 'tar', 'gzip', 'cat', 'readlink', 'uname']) {
    const found = spawnSync('which', [tool], { encoding: 'utf8' }).stdout.trim();
    if (found) link(tool, found);
  }
  for (const [name, target] of extraBins) link(name, target);
  for (const compiler of ['gcc', 'g++', 'cc', 'c++', 'make', 'python3', 'python']) {
    if (existsSync(join(bin, compiler))) throw new Error(`${compiler} is on the compiler-free PATH`);
  }
  return bin;
}

function freshProject(name, packageJson = {}) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...packageJson }, null, 2));
  return dir;
}

// Checks, in the project's own Node, that both entry points load the
// expected implementation and read plausible values of this very process.
const CHECK = `
  const { readFileSync, readdirSync } = require('node:fs');
  const cjs = require('procmeter');
  import('procmeter').then((esm) => {
    const s = cjs.collect();
    const status = readFileSync('/proc/self/status', 'utf8');
    const field = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+)', 'm').exec(status)[1]);
    const report = {
      node: process.version,
      cjs: cjs.implementation, esm: esm.implementation, gc: cjs.gcImplementation,
      sameInstance: cjs.collect === esm.collect,
      binary: cjs.loadDiagnostics().binaryPath,
      threadsOk: s.threads === field('Threads'),
      rssOk: Math.abs(s.residentMemoryBytes - field('VmRSS') * 1024) < 8 * 1024 * 1024,
      fdsOk: Math.abs(s.openFds - (readdirSync('/proc/self/fd').length - 2)) <= 2,
      cpuOk: s.cpuUserSeconds > 0 && s.cpuUserSeconds < 60,
      heapOk: s.heapUsedBytes > 0,
    };
    console.log(JSON.stringify(report));
  });
`;

/**
 * Runs CHECK in `dir` with `node`: `implementation` and `gc` are what it must
 * report; `binary`, when given, the end of the path of the binary it must
 * have loaded (so that a prebuild is known to have been the one tested).
 */
function checkProject(dir, { node = process.execPath, implementation = 'native', gc = implementation, binary, env = {} } = {}) {
  const report = JSON.parse(run(node, ['-e', CHECK], { cwd: dir, env: { ...process.env, ...env } }).trim().split('\n').at(-1));
  const problems = [];
  if (report.cjs !== implementation || report.esm !== implementation) problems.push(`implementation ${report.cjs}/${report.esm}, expected ${implementation}`);
  if (report.gc !== gc) problems.push(`GC/heap ${report.gc}, expected ${gc}`);
  if (binary !== undefined && !report.binary?.endsWith(binary)) problems.push(`binary ${report.binary}, expected …${binary}`);
  for (const key of ['sameInstance', 'threadsOk', 'rssOk', 'fdsOk', 'cpuOk', 'heapOk']) if (!report[key]) problems.push(`${key} false`);
  if (problems.length) throw new Error(`${problems.join('; ')}\n${JSON.stringify(report)}`);
  return `${report.node}: ${report.cjs}${report.binary ? ` (${report.binary.slice(report.binary.indexOf('procmeter/') + 10)})` : ''}`;
}

/** The end of the path of the V8 prebuild `node` must load. */
function v8Prebuild(arch, node = process.execPath) {
  return `prebuilds/linux-${arch}/procmeter_v8.abi${run(node, ['-p', 'process.versions.modules']).trim()}.glibc.node`;
}

async function scrapeZeroCode(dir, nodeBin) {
  writeFileSync(join(dir, 'app.mjs'), 'setTimeout(() => {}, 20_000);\n');
  const port = await freePort();
  const app = spawn(nodeBin, ['--import', 'procmeter/register', 'app.mjs'], {
    cwd: dir,
    env: { ...process.env, OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  app.stderr.on('data', (d) => (stderr += d));
  try {
    for (let attempt = 0; attempt < 40; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      if (/^process_cpu_seconds_total\{/m.test(text) && /^nodejs_gc_duration_seconds_bucket\{/m.test(text) && /^process_open_fds\{/m.test(text)) {
        return `${text.split('\n').filter((l) => /^[a-z]/.test(l)).length} samples`;
      }
    }
    throw new Error(`no procmeter metrics at :${port}/metrics\n${stderr}`);
  } finally {
    app.kill('SIGKILL');
  }
}

// 1. The tarball, as it is published (npm run tarball; dist and prebuilds ready).
for (const arch of ['x64', 'arm64']) {
  if (!existsSync(join(root, 'prebuilds', `linux-${arch}`))) throw new Error(`prebuilds/linux-${arch} missing: run npm run prebuild first`);
}
const packed = packTarball(work);
const tarball = packed.path;
console.log(`packed ${packed.filename}: ${(packed.size / 1024).toFixed(0)} kB, ${packed.entryCount} files`);

// The same package without its prebuilds.
const unpacked = join(work, 'unpacked');
mkdirSync(unpacked);
run('tar', ['xzf', tarball, '-C', unpacked]);
rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
mkdirSync(join(work, 'bare'));
const bare = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', join(work, 'bare')], { cwd: join(unpacked, 'package') }))[0];
const bareTarball = join(work, 'bare', bare.filename);

const pnpmPrefix = join(work, 'pnpm');
run('npm', ['install', '--prefix', pnpmPrefix, '--no-audit', '--no-fund', 'pnpm@10']);
const PATH = compilerFreePath([['pnpm', join(pnpmPrefix, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs')]]);
const env = { ...process.env, PATH, npm_config_nodedir: '' };

await record('npm install (defaults), no compiler, no install script to approve', () => {
  const dir = freshProject('npm-default');
  const output = runWithOutput('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: dir, env });
  // npm 11 lists the packages whose manifests carry install scripts (for a
  // file or URL, prepare included; from the registry it leaves prepare out).
  if (/install-scripts|procmeter@.*\((?:pre|post)?(?:install|prepare)/.test(output)) throw new Error(`npm reports an install script:\n${output}`);
  const { scripts, gypfile } = JSON.parse(readFileSync(join(dir, 'node_modules', 'procmeter', 'package.json'), 'utf8'));
  if (scripts !== undefined || gypfile !== false) throw new Error(`published manifest: scripts ${JSON.stringify(scripts)}, gypfile ${gypfile}`);
  return checkProject(dir, { binary: v8Prebuild('x64') });
});
await record('npm install --ignore-scripts, no compiler', () => {
  const dir = freshProject('npm-ignore-scripts');
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: dir, env });
  return checkProject(dir, { binary: v8Prebuild('x64') });
});
await record('pnpm add, no compiler', () => {
  const dir = freshProject('pnpm');
  const output = runWithOutput('pnpm', ['add', tarball], { cwd: dir, env });
  if (/Ignored build scripts/i.test(output)) throw new Error(`pnpm ignored a build script:\n${output}`);
  return checkProject(dir, { binary: v8Prebuild('x64') });
});
await record('no prebuilds, no compiler: installs, uses the fallback', () => {
  const dir = freshProject('no-prebuilds');
  run('npm', ['install', '--no-audit', '--no-fund', bareTarball], { cwd: dir, env });
  return checkProject(dir, { implementation: 'fallback' });
});

await record('no prebuilds: compiled in place with the README’s lines, then native', () => {
  const dir = freshProject('build-in-place');
  run('npm', ['install', '--no-audit', '--no-fund', bareTarball], { cwd: dir, env });
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const steps = /compile it in place[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!steps) throw new Error('no build-in-place block after "compile it in place" in the README');
  // This machine's compiler; the lines point node-gyp at this Node's own
  // headers (CI cannot download them), with the node first on PATH.
  const path = `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;
  // Without an npm-configured nodedir (npm run exports this machine's), which
  // node-gyp would take over the README's --nodedir.
  const { npm_config_nodedir: _, ...withoutNodedir } = process.env;
  run('bash', ['-euo', 'pipefail', '-c', steps], { cwd: dir, env: { ...withoutNodedir, PATH: path } });
  return checkProject(dir, { binary: 'build/Release/procmeter_v8.node' });
});

for (const major of SUPPORTED_NODE_MAJORS) {
  await record(`the tarball on Node ${major}`, () => {
    const node = fetchNode(major).bin;
    return checkProject(join(work, 'npm-default'), { node, binary: v8Prebuild('x64', node) });
  });
}
// The Node-API-only binary, which Node majors without a V8 binary of their
// own load (21, 23, 25, 27...), named so that nothing is tried before it.
await record('the Node-API-only prebuild (x64): process figures native, GC and heap from JavaScript', () => {
  const dir = join(work, 'npm-default');
  const core = join(dir, 'node_modules', 'procmeter', 'prebuilds', 'linux-x64', 'procmeter_core.glibc.node');
  return checkProject(dir, { gc: 'fallback', binary: 'prebuilds/linux-x64/procmeter_core.glibc.node', env: { PROCMETER_BINARY_PATH: core } });
});

await record('zero-code start, OpenTelemetry SDK 2.x (api 1.9) on Node 20', async () => {
  const dir = freshProject('sdk2');
  run('npm', ['install', '--no-audit', '--no-fund', tarball, '@opentelemetry/api@~1.9.0', '@opentelemetry/sdk-metrics@^2', '@opentelemetry/resources@^2', '@opentelemetry/exporter-prometheus@~0.223.0', '@opentelemetry/exporter-metrics-otlp-http@~0.223.0'], { cwd: dir, env });
  return scrapeZeroCode(dir, fetchNode(20).bin);
});
await record('zero-code start, OpenTelemetry SDK 3.x (api 1.10) on Node 24', async () => {
  const dir = freshProject('sdk3');
  const node24 = fetchNode(24);
  // Installed with this machine's npm (the registry's Node packages carry
  // none), run on Node 24.
  run('npm', ['install', '--no-audit', '--no-fund', tarball, '@opentelemetry/api@~1.10.0', '@opentelemetry/sdk-metrics@^3', '@opentelemetry/resources@^3', '@opentelemetry/exporter-prometheus@~0.301.0', '@opentelemetry/exporter-metrics-otlp-http@~0.301.0'], { cwd: dir, env });
  return scrapeZeroCode(dir, node24.bin);
});

// Each arm64 prebuild under qemu-user with the registry's arm64 Node of its
// major, and the Node-API-only one.
function arm64Node(major) {
  const qemu = spawnSync('which', ['qemu-aarch64'], { encoding: 'utf8' }).stdout.trim();
  if (!qemu) throw new Error('qemu-aarch64 not installed (Debian: qemu-user)');
  const sysroot = '/usr/aarch64-linux-gnu';
  if (!existsSync(join(sysroot, 'lib', 'libstdc++.so.6'))) throw new Error(`${sysroot} has no libstdc++ (Debian: libstdc++6-arm64-cross)`);
  const node = fetchNode(major, 'arm64');
  const wrapper = join(work, `node-arm64-${major}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec '${qemu}' -L '${sysroot}' '${node.bin}' "$@"\n`, { mode: 0o755 });
  const arch = run(wrapper, ['-p', 'process.arch']).trim();
  if (arch !== 'arm64') throw new Error(`not running arm64 Node: ${arch}`);
  return wrapper;
}
for (const major of SUPPORTED_NODE_MAJORS) {
  await record(`arm64 prebuild for Node ${major} under qemu-user with the registry’s arm64 Node`, () => {
    const node = arm64Node(major);
    return checkProject(join(work, 'npm-default'), { node, binary: v8Prebuild('arm64', node) });
  });
}
await record('the Node-API-only arm64 prebuild under qemu-user', () => {
  const dir = join(work, 'npm-default');
  const core = join(dir, 'node_modules', 'procmeter', 'prebuilds', 'linux-arm64', 'procmeter_core.glibc.node');
  return checkProject(dir, { node: arm64Node(20), gc: 'fallback', binary: 'prebuilds/linux-arm64/procmeter_core.glibc.node', env: { PROCMETER_BINARY_PATH: core } });
});

console.log('\n| install test | result |');
console.log('|---|---|');
for (const r of results) console.log(`| ${r.name} | ${r.ok ? `ok: ${r.detail}` : 'FAIL'} |`);
for (const r of results.filter((x) => !x.ok)) console.error(`\n--- ${r.name}\n${r.detail}`);
console.log(`\ntarball: ${(packed.size / 1024).toFixed(0)} kB packed, ${(packed.unpackedSize / 1024).toFixed(0)} kB unpacked, ${packed.entryCount} files`);
if (results.every((r) => r.ok)) rmSync(work, { recursive: true, force: true });
else console.error(`\nkept ${work} for inspection`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
