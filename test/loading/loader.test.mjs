// How procmeter picks native or fallback, and what it tells about it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRequire } from 'node:module';

import { runNode } from '../helpers/child.mjs';
import { copyLoadedBinary, projectWithProcmeter } from '../helpers/installed-copy.mjs';
import { statusField } from '../helpers/ground-truth.mjs';

const require = createRequire(import.meta.url);

const REPORT = `
  import * as procmeter from 'procmeter';
  const s = procmeter.collect();
  console.log(JSON.stringify({
    implementation: procmeter.implementation,
    loadError: procmeter.loadError?.message,
    diagnostics: procmeter.loadDiagnostics(),
    rss: s.residentMemoryBytes,
  }));`;

test('the native addon is used when it loads, silently', () => {
  const child = runNode(REPORT);
  const report = child.json();
  assert.equal(report.implementation, 'native');
  assert.equal(report.loadError, undefined);
  assert.match(report.diagnostics.binaryPath, /procmeter_v8(\.abi\d+\.glibc)?\.node$/);
  assert.equal(report.diagnostics.gcImplementation, 'native');
  assert.equal(child.stderr, '');
});

test('PROCMETER_FORCE_FALLBACK=1 selects the fallback and says why', () => {
  const report = runNode(REPORT, { env: { PROCMETER_FORCE_FALLBACK: '1' } }).json();
  assert.equal(report.implementation, 'fallback');
  assert.match(report.loadError, /PROCMETER_FORCE_FALLBACK is set/);
  assert.ok(report.rss > 0);
});

test('a missing binary falls back without a sound, and the diagnostics say what was tried', () => {
  const child = runNode(REPORT, { env: { PROCMETER_BINARY_PATH: '/nonexistent/procmeter.node' } });
  const report = child.json();
  assert.equal(report.implementation, 'fallback');
  assert.equal(child.stderr, '');
  assert.deepEqual(report.diagnostics.attempts.map((a) => a.path), ['/nonexistent/procmeter.node']);
  assert.match(report.diagnostics.attempts[0].error, /Cannot find module|MODULE_NOT_FOUND/);
  assert.match(report.loadError, /\/nonexistent\/procmeter\.node/);
  assert.ok(report.rss > 0);
});

test('a binary from another layout, or one whose sample throws, is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
  try {
    const stale = join(dir, 'stale.js');
    writeFileSync(stale, `module.exports = { sample() {}, attach() {}, close() {}, shareClaimCell() {}, claimProcessMetrics() { return true; }, releaseProcessMetrics() {}, layoutSignature: 'cpuSeconds,', variant: 'core' };`);
    const broken = join(dir, 'broken.js');
    const { LAYOUT_SIGNATURE } = require('procmeter')._internals.layout;
    writeFileSync(
      broken,
      `module.exports = { sample() { throw new Error('boom'); }, attach() {}, close() {}, shareClaimCell() {}, claimProcessMetrics() { return true; }, releaseProcessMetrics() {}, layoutSignature: ${JSON.stringify(LAYOUT_SIGNATURE)} };`,
    );
    const notABinding = join(dir, 'other.js');
    writeFileSync(notABinding, 'module.exports = {};');
    for (const [path, reason] of [[stale, /different snapshot layout/], [broken, /boom/], [notABinding, /not a procmeter binary/]]) {
      const report = runNode(REPORT, { env: { PROCMETER_BINARY_PATH: path } }).json();
      assert.equal(report.implementation, 'fallback', path);
      assert.match(report.diagnostics.attempts[0].error, reason);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PROCMETER_FORCE_FALLBACK set to a word for off (0, false, no, off) keeps the native addon', () => {
  for (const value of ['0', 'false', 'no', 'off', ' OFF ', '']) {
    const report = runNode(REPORT, { env: { PROCMETER_FORCE_FALLBACK: value } }).json();
    assert.equal(report.implementation, 'native', `PROCMETER_FORCE_FALLBACK='${value}'`);
  }
});

test('a PROCMETER_BINARY_PATH the file system cannot resolve (ENOTDIR, ELOOP) falls back; loading does not throw', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
  try {
    const loop = join(dir, 'loop');
    symlinkSync(loop, loop);
    for (const path of [join(process.execPath, 'procmeter.node'), join(loop, 'procmeter.node')]) {
      const child = runNode(REPORT, { env: { PROCMETER_BINARY_PATH: path } });
      const report = child.json();
      assert.equal(report.implementation, 'fallback', path);
      assert.deepEqual(report.diagnostics.attempts.map((a) => a.path), [path]);
      assert.equal(child.stderr, '');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NODE_DEBUG=procmeter prints what was tried, on stderr only', () => {
  const child = runNode(REPORT, { env: { NODE_DEBUG: 'procmeter', PROCMETER_BINARY_PATH: '/nonexistent/x.node' } });
  assert.match(child.stderr, /PROCMETER \d+: tried \/nonexistent\/x\.node: /);
  assert.match(child.stderr, /implementation: fallback, GC and heap: fallback \(no native binary could be loaded\)/);
  assert.equal(JSON.parse(child.stdout).implementation, 'fallback');
});

test('require() and import() share one instance with the same exports, and a default export that is module.exports', () => {
  const report = runNode(`
    import { createRequire } from 'node:module';
    import * as esm from 'procmeter';
    import procmeter from 'procmeter';
    import * as esmRegister from 'procmeter/register';
    import register from 'procmeter/register';
    const require = createRequire(import.meta.url);
    const cjs = require('procmeter');
    console.log(JSON.stringify({
      // The default export aside, as for any CommonJS package.
      esmKeys: Object.keys(esm).filter((name) => name !== 'default').sort(),
      // _internals (not API) is left out of the ESM entry point.
      cjsKeys: Object.keys(cjs).filter((name) => !name.startsWith('_')).sort(),
      sameCollect: esm.collect === cjs.collect,
      defaultIsModuleExports: procmeter === cjs && register === require('procmeter/register'),
      registerKeys: Object.keys(esmRegister).filter((name) => name !== 'default').sort(),
      registerCjsKeys: Object.keys(require('procmeter/register')).sort(),
    }));`, { env: { OTEL_SDK_DISABLED: 'true' } }).json();
  assert.deepEqual(report.esmKeys, report.cjsKeys);
  assert.ok(report.sameCollect, 'ESM and CJS entry points load separate copies');
  assert.ok(report.defaultIsModuleExports, "import procmeter from 'procmeter' is module.exports, as for a CommonJS package");
  assert.deepEqual(report.registerKeys, report.registerCjsKeys);
});

test('procmeter evaluated again in a vm context of the thread takes the process-metrics claim cell the thread published, not one of its own', () => {
  const report = runNode(
    `
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    import vm from 'node:vm';
    import { getEnvironmentData } from 'node:worker_threads';
    const require = createRequire(import.meta.url);
    const file = require.resolve('procmeter');
    const first = require('procmeter')._internals.processClaimCell();
    const published = getEnvironmentData('procmeter:process-metrics-claim:v2');
    // A context of its own (its own SharedArrayBuffer) sharing this process.
    const context = vm.createContext({ process, Buffer, console, performance, setImmediate, clearImmediate, setTimeout, clearTimeout, setInterval, clearInterval });
    const wrapper = vm.runInContext('(function (exports, require, module, __filename, __dirname) {' + readFileSync(file, 'utf8') + '\\n})', context, { filename: file });
    const module = { exports: {} };
    wrapper(module.exports, createRequire(file), module, file, file.slice(0, file.lastIndexOf('/')));
    const second = module.exports._internals.processClaimCell();
    console.log(JSON.stringify({
      premise: published === first.cells.buffer && !(published instanceof vm.runInContext('SharedArrayBuffer', context)),
      sameCell: second.cells.buffer === first.cells.buffer,
      stillPublished: getEnvironmentData('procmeter:process-metrics-claim:v2') === published,
    }));`,
  ).json();
  assert.ok(report.premise, "the test's premise: the main realm published the cell, which is foreign to the context");
  assert.deepEqual([report.sameCell, report.stillPublished], [true, true]);
});

test("procmeter's JavaScript evaluated again in one thread (as a test runner's fresh module registries do) shares the addon: both evaluations read live figures", () => {
  const report = runNode(
    `const first = require('procmeter');
     const packageDir = require('node:path').dirname(require.resolve('procmeter/package.json'));
     // Test runners' module registries load .node files through Node's
     // own require(), which keeps them: clear procmeter's JavaScript only.
     for (const file of Object.keys(require.cache)) if (file.startsWith(packageDir) && !file.endsWith('.node')) delete require.cache[file];
     const second = require('procmeter');
     const before = { first: first.collect(), second: second.collect() };
     let x = 0;
     for (let i = 0; i < 3e7; i++) x += Math.sqrt(i);
     globalThis.gc();
     const cpuUserSeconds = process.cpuUsage().user / 1e6;
     const after = { first: first.collect(), second: second.collect() };
     console.log(JSON.stringify({
       distinct: first !== second && first.collect !== second.collect,
       implementations: [first.loadDiagnostics(), second.loadDiagnostics()].map((d) => d.implementation + '/' + d.gcImplementation),
       cpuUserSeconds,
       cpu: { first: after.first.cpuUserSeconds, second: after.second.cpuUserSeconds },
       majorGcs: {
         first: after.first.gc.markSweepCompact.count - before.first.gc.markSweepCompact.count,
         second: after.second.gc.markSweepCompact.count - before.second.gc.markSweepCompact.count,
       },
     }));`,
    { type: 'commonjs', nodeArgs: ['--expose-gc'] },
  ).json();
  assert.ok(report.distinct, 'the test did not get a second evaluation');
  assert.deepEqual(report.implementations, ['native/native', 'native/native']);
  for (const which of ['first', 'second']) {
    assert.ok(Math.abs(report.cpu[which] - report.cpuUserSeconds) < 0.01, `${which}: ${JSON.stringify(report)}`);
    assert.equal(report.majorGcs[which], 1, `${which}: ${JSON.stringify(report)}`);
  }
});

for (const implementation of ['native', 'fallback']) {
  test(`${implementation}: procmeter reloaded 20 times with all of require.cache cleared (its binary too, as hot reload does) opens no more fds`, () => {
    const report = runNode(
      `const { readdirSync } = require('node:fs');
       const packageDir = require('node:path').dirname(require.resolve('procmeter/package.json'));
       const openFds = () => readdirSync('/proc/self/fd').length;
       const first = require('procmeter');
       first.collect();
       const before = openFds();
       const evaluations = new Set([first]);
       let last = first;
       for (let i = 0; i < 20; i++) {
         for (const file of Object.keys(require.cache)) delete require.cache[file];
         last = require('procmeter');
         evaluations.add(last);
         last.collect();
       }
       console.log(JSON.stringify({
         evaluations: evaluations.size,
         implementation: last.implementation,
         before,
         after: openFds(),
       }));`,
      { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.equal(report.evaluations, 21, 'the test did not get fresh evaluations');
    assert.equal(report.implementation, implementation);
    assert.equal(report.after, report.before, `fds before and after the reloads: ${JSON.stringify(report)}`);
  });
}

test('the fallback evaluated again in one thread adds no listener per evaluation: a worker that ends still gives the claim back', () => {
  const report = runNode(
    `const { Worker } = require('node:worker_threads');
     const packageDir = require('node:path').dirname(require.resolve('procmeter/package.json'));
     for (let i = 0; i < 12; i++) {
       for (const file of Object.keys(require.cache)) if (file.startsWith(packageDir)) delete require.cache[file];
       require('procmeter');
     }
     const warnings = [];
     process.on('warning', (warning) => warnings.push(warning.name));
     // A worker takes the claim and is terminated without giving it back.
     const worker = new Worker(
       \`const { registerProcessMetrics } = require('procmeter');
        const { MeterProvider } = require('@opentelemetry/sdk-metrics');
        const handle = registerProcessMetrics({ meterProvider: new MeterProvider(), mode: 'push', pushIntervalMs: 0 });
        handle.update();
        require('node:worker_threads').parentPort.postMessage(handle.reportsProcessMetrics);
        setInterval(() => {}, 1000);\`,
       { eval: true },
     );
     worker.once('message', async (workerReports) => {
       await worker.terminate();
       const { MeterProvider } = require('@opentelemetry/sdk-metrics');
       const handle = require('procmeter').registerProcessMetrics({ meterProvider: new MeterProvider(), mode: 'push', pushIntervalMs: 0 });
       handle.update();
       console.log(JSON.stringify({ workerListeners: process.listenerCount('worker'), warnings, workerReports, mainReports: handle.reportsProcessMetrics }));
       handle.shutdown();
     });`,
    { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: '1' } },
  ).json();
  assert.deepEqual(report, { workerListeners: 1, warnings: [], workerReports: true, mainReports: true });
});

test('PROCMETER_BINARY_PATH naming a file that is no binary (nor a .js wrapper) is not run as JavaScript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
  try {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'process.stdout.write("ran as JavaScript\\n");');
    const child = runNode(REPORT, { env: { PROCMETER_BINARY_PATH: text } });
    const report = child.json();
    assert.equal(report.implementation, 'fallback');
    assert.deepEqual(report.diagnostics.attempts, [{ path: text, error: 'not a .node file' }]);
    assert.doesNotMatch(child.stdout, /ran as JavaScript/);
    // A path that names nothing (a copy step missed) says so.
    const missing = join(dir, 'prebuilds', 'linux-x64');
    assert.deepEqual(runNode(REPORT, { env: { PROCMETER_BINARY_PATH: missing } }).json().diagnostics.attempts, [{ path: missing, error: 'ENOENT: no such file or directory' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PROCMETER_BINARY_PATH naming a binary for another CPU: the diagnostics say so, not just the loader\'s "No such file or directory"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
  try {
    // This machine's binary with another e_machine in its ELF header
    // (little-endian, at byte 18): what glibc's loader rejects as it
    // rejects a real binary for that CPU.
    const binary = readFileSync(new URL('../../build/Release/procmeter_core.node', import.meta.url));
    const [machine, name] = process.arch === 'arm64' ? [62, 'x64'] : [183, 'arm64'];
    binary.writeUInt16LE(machine, 18);
    const foreign = join(dir, 'procmeter_core.node');
    writeFileSync(foreign, binary);
    const report = runNode(REPORT, { env: { PROCMETER_BINARY_PATH: foreign } }).json();
    assert.equal(report.implementation, 'fallback');
    assert.equal(report.diagnostics.attempts.length, 1);
    assert.match(report.diagnostics.attempts[0].error, new RegExp(`^ERR_DLOPEN_FAILED: .*\\(the file is there, built for ${name}; this process runs on ${process.arch}\\)$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the CommonJS exports are plain properties a test double can replace', () => {
  const procmeter = require('procmeter');
  const original = procmeter.collect;
  const descriptor = Object.getOwnPropertyDescriptor(procmeter, 'collect');
  assert.equal(descriptor.get, undefined, 'collect is an accessor');
  assert.equal(descriptor.writable, true);
  try {
    procmeter.collect = () => 'stubbed';
    assert.equal(procmeter.collect(), 'stubbed');
  } finally {
    procmeter.collect = original;
  }
  assert.equal(typeof procmeter.collect().cpuUserSeconds, 'number');
});

// The V8 addon of this Node behind a wrapper that says what the test wants
// of it (another ABI, a start() that fails): a stale build after a Node
// upgrade looks like this to the loader.
function wrappedRealV8Binary(dir, { nodeModuleVersion, v8Version, start }) {
  const { LAYOUT_SIGNATURE } = require('procmeter')._internals.layout;
  const real = require('procmeter').loadDiagnostics().binaryPath;
  assert.match(real, /procmeter_v8[^/]*\.node$/, "the test's premise: this Node loads the V8 addon");
  const wrapper = join(dir, 'wrapped-v8.js');
  writeFileSync(
    wrapper,
    `const real = require(${JSON.stringify(real)});
     module.exports = {
       variant: 'v8', layoutSignature: ${JSON.stringify(LAYOUT_SIGNATURE)},
       nodeModuleVersion: ${nodeModuleVersion}, v8Version: ${JSON.stringify(v8Version)},
       sample: (...slots) => real.sample(...slots), attach: (slots) => real.attach(slots), close: () => real.close(),
       shareClaimCell: (cells) => real.shareClaimCell(cells),
       claimProcessMetrics: (token) => real.claimProcessMetrics(token), releaseProcessMetrics: (token) => real.releaseProcessMetrics(token),
       drainGcPauses: (out) => real.drainGcPauses(out), start: ${start},
     };`,
  );
  return wrapper;
}

test('PROCMETER_BINARY_PATH naming a procmeter_v8 built for another Node ABI: its process part is used, and it never touches V8', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
  try {
    const stale = wrappedRealV8Binary(dir, { nodeModuleVersion: 1, v8Version: '1.0', start: "() => { throw new Error('start() must not be called on a foreign ABI'); }" });
    const report = runNode(
      `const procmeter = require('procmeter');
       const s = procmeter.collect();
       console.log(JSON.stringify({ ...procmeter.loadDiagnostics(), rss: s.residentMemoryBytes, heapTotal: s.heapTotalBytes, vmRssBytes: Number(/VmRSS:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024 }));`,
      { type: 'commonjs', env: { PROCMETER_BINARY_PATH: stale } },
    ).json();
    assert.deepEqual([report.implementation, report.gcImplementation, report.binaryPath], ['native', 'fallback', stale]);
    assert.match(report.fallbackReason, /^PROCMETER_BINARY_PATH names a binary built for Node ABI 1 \(V8 1\.0\); this Node is ABI \d+ \(V8 [\d.]+\): its process part is used, GC and heap from JavaScript$/);
    assert.ok(Math.abs(report.rss - report.vmRssBytes) < 8 * 2 ** 20, JSON.stringify(report));
    assert.ok(report.heapTotal > 0, 'heap figures from the v8 module');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a real procmeter_v8 that fails to start is turned down, and gives back the procfs fds its first sample opened', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
  try {
    const failing = wrappedRealV8Binary(dir, {
      nodeModuleVersion: 'Number(process.versions.modules)',
      v8Version: process.versions.v8.split('.').slice(0, 2).join('.'),
      start: "() => { throw new Error('V8 part failed'); }",
    });
    const report = runNode(
      `import * as procmeter from 'procmeter';
       import { readdirSync, readlinkSync } from 'node:fs';
       procmeter.collect();
       const targets = readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } });
       console.log(JSON.stringify({ implementation: procmeter.implementation, error: procmeter.loadDiagnostics().attempts[0].error, statm: targets.filter((t) => t.endsWith('/statm')).length }));`,
      { env: { PROCMETER_BINARY_PATH: failing } },
    ).json();
    // The fallback keeps one /proc/self/statm open; the refused addon none.
    assert.deepEqual(report, { implementation: 'fallback', error: 'V8 part failed', statm: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loaded with the process nearly out of fds, the V8 addon is still used: its heap check needs no fd', () => {
  // The kept procfs fds take the last free ones; process.memoryUsage(),
  // which the heap check compares with, opens /proc/self/stat for the RSS.
  for (const free of [1, 2, 3, 4, 6]) {
    const report = runNode(
      `const { openSync, closeSync } = require('node:fs');
       const held = [];
       try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
       for (let i = 0; i < ${free}; i++) closeSync(held.pop());
       let result;
       try {
         const procmeter = require('procmeter');
         const diagnostics = procmeter.loadDiagnostics();
         result = { implementation: diagnostics.implementation, gcImplementation: diagnostics.gcImplementation, heapUsed: procmeter.collect().heapUsedBytes > 0 };
       } catch (error) {
         result = { threw: error.message };
       }
       for (const fd of held) closeSync(fd);
       console.log(JSON.stringify(result));`,
      { shellPrefix: 'ulimit -n 64', type: 'commonjs' },
    ).json();
    assert.deepEqual(report, { implementation: 'native', gcImplementation: 'native', heapUsed: true }, `${free} fds free`);
  }
});

test('close() on the V8 addon also removes its GC callbacks (for a binary turned down after it started)', () => {
  const report = runNode(
    `const procmeter = require('procmeter');
     const gcs = () => procmeter.collect().gc.markSweepCompact.count;
     const before = gcs();
     globalThis.gc();
     const tracked = gcs();
     procmeter._internals.nativeBinding.close();
     globalThis.gc();
     globalThis.gc();
     console.log(JSON.stringify({ tracked: tracked - before, afterClose: gcs() - tracked }));`,
    { nodeArgs: ['--expose-gc'], type: 'commonjs' },
  ).json();
  assert.deepEqual(report, { tracked: 1, afterClose: 0 });
});

test('each addon takes only a claim cell on a SharedArrayBuffer: an unshared one could be detached and freed under it', () => {
  const binaries = [
    new URL('../../build/Release/procmeter_core.node', import.meta.url).pathname,
    require('procmeter').loadDiagnostics().binaryPath,
  ];
  for (const binary of binaries) {
    // The raw binding, loaded by hand in a process where procmeter has not
    // already shared its own cell.
    const report = runNode(
      `const addon = { exports: {} };
       process.dlopen(addon, ${JSON.stringify(binary)});
       const binding = addon.exports;
       const refused = [new BigInt64Array(2), new Float64Array(new SharedArrayBuffer(8)), 42].map((cell) => {
         try { binding.shareClaimCell(cell); return 'accepted'; } catch (error) { return error.constructor.name + ': ' + error.message; }
       });
       const cell = new BigInt64Array(new SharedArrayBuffer(8));
       binding.shareClaimCell(cell);
       const claimed = binding.claimProcessMetrics(5n);
       console.log(JSON.stringify({ refused, claimed, holder: String(Atomics.load(cell, 0)) }));`,
      { type: 'commonjs' },
    ).json();
    for (const outcome of report.refused) assert.match(outcome, /^TypeError: .*BigInt64Array on a SharedArrayBuffer/, binary);
    // The shared cell is the one written: the claim shows in its memory.
    assert.deepEqual({ claimed: report.claimed, holder: report.holder }, { claimed: true, holder: '5' }, binary);
  }
});

test('with only the Node-API addon, the process is native and GC/heap come from JavaScript', () => {
  const report = runNode(REPORT, {
    env: { PROCMETER_BINARY_PATH: new URL('../../build/Release/procmeter_core.node', import.meta.url).pathname },
  }).json();
  assert.equal(report.implementation, 'native');
  assert.equal(report.diagnostics.gcImplementation, 'fallback');
  // Named by PROCMETER_BINARY_PATH: no V8-specific binary was tried.
  assert.match(report.loadError, /PROCMETER_BINARY_PATH names the Node-API-only binary/);
  assert.ok(report.rss > 0);
});

// The real addon, except that start() may call its heap untrusted and
// sample() may report a heap figure as a mismatched V8 layout would.
function writeAddonWrapper(file, { startTrusted, corruptSlot }) {
  const { LAYOUT_SIGNATURE, SLOT } = require('procmeter')._internals.layout;
  // The V8 addon built for this Node (a local build or a prebuild).
  const real = require('procmeter').loadDiagnostics().binaryPath;
  writeFileSync(
    file,
    `const real = require(${JSON.stringify(real)});
     module.exports = {
       variant: 'v8', layoutSignature: ${JSON.stringify(LAYOUT_SIGNATURE)},
       nodeModuleVersion: real.nodeModuleVersion, v8Version: real.v8Version,
       pauseRingCapacity: real.pauseRingCapacity,
       attached: null,
       attach(slots) { this.attached = slots; },
       sample(buffer) {
         const target = buffer ?? this.attached;
         real.sample(target);
         target[${SLOT[corruptSlot]}] += 4096;
       },
       close: () => real.close(),
       shareClaimCell: (cells) => real.shareClaimCell(cells),
       claimProcessMetrics: (token) => real.claimProcessMetrics(token),
       releaseProcessMetrics: (token) => real.releaseProcessMetrics(token),
       drainGcPauses: (out) => real.drainGcPauses(out),
       distrustHeap: () => real.distrustHeap(),
       start() { const started = real.start(); return { ...started, heapTrusted: ${startTrusted} && started.heapTrusted }; },
     };`,
  );
}

for (const { title, startTrusted, corruptSlot, v8Field, reason } of [
  { title: 'the addon finds its heap layout untrusted', startTrusted: false, corruptSlot: 'heapLimitBytes', v8Field: 'heap_size_limit', reason: /heap read from JavaScript/ },
  {
    title: 'its heap total disagrees with process.memoryUsage()',
    startTrusted: true,
    corruptSlot: 'heapTotalBytes',
    v8Field: 'total_heap_size',
    reason: /disagreed with process\.memoryUsage\(\); heap read from JavaScript/,
  },
]) {
  test(`native heap figures are replaced by the v8 module’s when ${title}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'procmeter-loader-'));
    try {
      const wrapper = join(dir, 'wrapper.js');
      writeAddonWrapper(wrapper, { startTrusted, corruptSlot });
      const report = runNode(
        `import * as procmeter from 'procmeter';
         import * as v8 from 'node:v8';
         globalThis.gc();
         const s = procmeter.collect();
         // The corrupted figure, as the v8 module has it at the same moment
         // (read until it holds still around the snapshot).
         let read;
         for (let attempt = 0; attempt < 10; attempt++) {
           const before = v8.getHeapStatistics().${v8Field};
           const value = procmeter.collect().${corruptSlot};
           read = { before, value, after: v8.getHeapStatistics().${v8Field} };
           if (read.before === read.after) break;
         }
         console.log(JSON.stringify({
           read,
           diagnostics: procmeter.loadDiagnostics(),
           majorGcs: s.gc.markSweepCompact.count,
           reclaimed: procmeter.GC_KINDS.map((kind) => s.gc[kind].reclaimedBytes),
           limit: s.heapLimitBytes, expectedLimit: v8.getHeapStatistics().heap_size_limit,
           spaces: s.heapSpaces.map((space) => space.name),
           expectedSpaces: v8.getHeapSpaceStatistics().map((space) => space.space_name),
         }));`,
        { env: { PROCMETER_BINARY_PATH: wrapper }, nodeArgs: ['--expose-gc'] },
      ).json();
      assert.equal(report.diagnostics.gcImplementation, 'native');
      assert.match(report.diagnostics.fallbackReason, reason);
      // GCs are still counted natively, but the bytes they reclaimed come
      // from the same distrusted structs: left out (JSON turns NaN into null).
      assert.ok(report.majorGcs >= 1, JSON.stringify(report));
      assert.deepEqual(report.reclaimed, report.reclaimed.map(() => null));
      assert.equal(report.limit, report.expectedLimit);
      assert.deepEqual(report.spaces, report.expectedSpaces);
      // Not the addon's figure, 4096 bytes off: the v8 module's.
      assert.equal(report.read.before, report.read.after, `the v8 module's figure moved: ${JSON.stringify(report.read)}`);
      assert.equal(report.read.value, report.read.before, JSON.stringify(report.read));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const { setup, poolSize } of [
  { setup: 'a slice of the Buffer pool', poolSize: undefined },
  { setup: 'marked by hand when Buffer.poolSize is too small for the pool', poolSize: 8 },
]) {
  test(`the array the addon writes into cannot be detached by postMessage() or structuredClone(): ${setup}`, () => {
    const report = runNode(
      `${poolSize === undefined ? '' : `Buffer.poolSize = ${poolSize};`}
       const { MessageChannel } = require('node:worker_threads');
       const { sampler, layout: { SLOT } } = require('procmeter')._internals;
       const slots = sampler.slots;
       const lengthBefore = slots.length;
       const { port1 } = new MessageChannel();
       const outcomes = [];
       for (const detach of [() => port1.postMessage(slots, [slots.buffer]), () => structuredClone(slots, { transfer: [slots.buffer] })]) {
         try { detach(); outcomes.push('no error'); } catch (error) { outcomes.push(error.name); }
       }
       port1.close();
       sampler.sample();
       console.log(JSON.stringify({
         lengthBefore, lengthAfter: slots.length, pooled: slots.buffer.byteLength > slots.byteLength,
         rss: slots[SLOT.residentMemoryBytes], outcomes,
       }));`,
      { type: 'commonjs' },
    ).json();
    assert.equal(report.pooled, poolSize === undefined);
    // Node 20 copies an untransferable buffer instead; later Nodes throw.
    assert.ok(report.outcomes.every((outcome) => outcome === 'no error' || outcome === 'DataCloneError'), report.outcomes.join());
    assert.equal(report.lengthAfter, report.lengthBefore);
    assert.ok(report.rss > 0, 'the addon still writes into the array');
  });
}

test('an attached array detached anyway (transfer() on Node 21-23 ignores the mark) is replaced before the addon writes again', () => {
  const report = runNode(
    `const procmeter = require('procmeter');
     const { sampler } = procmeter._internals;
     const first = sampler.slots;
     let outcome;
     try {
       first.buffer.transfer();
       outcome = 'transferred';
     } catch (error) {
       outcome = error.name; // no transfer() (Node 20), or the mark is honoured (Node 24+)
     }
     const detached = first.length === 0;
     const samples = Array.from({ length: 3 }, () => procmeter.collect().residentMemoryBytes);
     // Not console.log(): a transferred Buffer pool breaks it (silently).
     require('node:fs').writeSync(1, JSON.stringify({ node: process.version, outcome, detached, replaced: sampler.slots !== first, samples }));`,
    { type: 'commonjs' },
  ).json();
  assert.ok(report.samples.every((rss) => rss > 0), JSON.stringify(report));
  // The test's premise where the case exists (the matrix runs Node 22).
  const major = Number(report.node.slice(1).split('.')[0]);
  if (major >= 21 && major <= 23) assert.equal(report.outcome, 'transferred');
  if (report.outcome === 'transferred') {
    assert.ok(report.detached && report.replaced, JSON.stringify(report));
  } else {
    assert.ok(!report.detached && !report.replaced, JSON.stringify(report));
  }
});

test('PROCMETER_BINARY_PATH may name a directory holding the prebuilds (a bundle’s copy)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-bundle-'));
  try {
    const { prebuildNames } = require('procmeter')._internals;
    const names = prebuildNames();
    // The local builds stand in for the prebuilds, under the prebuild names.
    copyFileSync(new URL('../../build/Release/procmeter_core.node', import.meta.url), join(dir, names.core));
    const report = runNode(REPORT, { env: { PROCMETER_BINARY_PATH: dir } }).json();
    assert.equal(report.implementation, 'native');
    assert.equal(report.diagnostics.binaryPath, join(dir, names.core));
    assert.deepEqual(report.diagnostics.attempts.map((a) => a.path), [join(dir, names.v8), join(dir, names.core)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Loading node:worker_threads costs 37 M instructions (4-6 ms) of start-up on
// Node 20, node:perf_hooks (what the global performance loads on first use)
// 12 M. With the native addon, procmeter loads them only with its
// OpenTelemetry layer (which uses them), so a process that only collect()s
// does not pay for them. (process.moduleLoadList lists the built-in modules
// Node has loaded; it is not documented, so its absence fails the test.)
test('the native addon, loaded and sampled, loads neither node:worker_threads nor node:perf_hooks', () => {
  const report = runNode(`
    const loaded = () => ['worker_threads', 'perf_hooks'].filter((name) => process.moduleLoadList.includes('NativeModule ' + name));
    const before = loaded();
    const procmeter = require('procmeter');
    procmeter.collect();
    const afterCollect = loaded();
    procmeter.registerProcessMetrics();
    console.log(JSON.stringify({ listed: Array.isArray(process.moduleLoadList), implementation: procmeter.implementation, before, afterCollect, afterRegister: loaded() }));`,
    { type: 'commonjs' },
  ).json();
  assert.deepEqual(report, { listed: true, implementation: 'native', before: [], afterCollect: [], afterRegister: ['worker_threads', 'perf_hooks'] });
});

// Some hardened applications freeze `process`. Node's own node:worker_threads
// cannot load after that (it assigns process.chdir while it loads), which
// procmeter, loaded later, must live with: it then acts as the only thread.
for (const [implementation, workerThreadsFirst] of [['native', true], ['fallback', true], ['native', false], ['fallback', false]]) {
  const when = workerThreadsFirst ? 'after node:worker_threads loaded' : 'before node:worker_threads ever loaded';
  test(`${implementation}: with the process object frozen ${when}, procmeter loads, collects and registers`, () => {
    const report = runNode(
      `${workerThreadsFirst ? "require('node:worker_threads');" : ''}
       Object.freeze(process);
       const procmeter = require('procmeter');
       const { residentMemoryBytes, openFds } = procmeter.collect();
       const handle = procmeter.registerProcessMetrics();
       handle.shutdown();
       console.log(JSON.stringify({ implementation: procmeter.implementation, residentMemoryBytes, openFds }));`,
      { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: implementation === 'fallback' ? '1' : '' } },
    ).json();
    assert.equal(report.implementation, implementation);
    assert.ok(report.residentMemoryBytes > 0 && report.openFds > 0, JSON.stringify(report));
  });
}

test('fallback: loads and collects after other code detached Buffer’s shared pool (transfer() on Node 21-23)', () => {
  const report = runNode(
    `let outcome;
     try {
       Buffer.allocUnsafe(8).buffer.transfer();
       outcome = 'transferred';
     } catch (error) {
       outcome = error.name; // no transfer() (Node 20), or the pool is untransferable (Node 24+)
     }
     const procmeter = require('procmeter');
     const { residentMemoryBytes } = procmeter.collect();
     // Not console.log(): a transferred Buffer pool breaks it (silently).
     require('node:fs').writeSync(1, JSON.stringify({ outcome, implementation: procmeter.implementation, residentMemoryBytes }));`,
    { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: '1' } },
  ).json();
  assert.equal(report.implementation, 'fallback');
  assert.ok(report.residentMemoryBytes > 0, JSON.stringify(report));
  // Where the pool can be taken, the test must have taken it.
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 21 && major <= 23) assert.equal(report.outcome, 'transferred');
});

// Node's permission model (--permission; --experimental-permission before
// Node 22.13) refuses addons without --allow-addons, and /proc reads
// without --allow-fs-read covering it.
const PERMISSION_FLAG = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

test("under Node's permission model without --allow-addons: the fallback, saying why; the resident size still right with /proc unreadable", async () => {
  // The child collects and stops itself at once, so that this process reads
  // its VmRSS as of the snapshot; then it is let go and prints it.
  const child = spawn(
    process.execPath,
    [
      PERMISSION_FLAG,
      `--allow-fs-read=${packageRoot}*`,
      '--no-warnings',
      '--input-type=module',
      '-e',
      `import * as procmeter from 'procmeter';
       // Both calls once first, so that their first-call work (lazy
       // compilation, say) is not in between.
       const s = procmeter.createSnapshot();
       procmeter.collect(s);
       process.kill(process.pid, 0);
       procmeter.collect(s);
       process.kill(process.pid, 'SIGSTOP');
       console.log(JSON.stringify({ implementation: procmeter.implementation, reason: procmeter.loadDiagnostics().fallbackReason, rss: s.residentMemoryBytes, openFds: s.openFds }));`,
    ],
    { cwd: packageRoot, env: { ...process.env, PROCMETER_FORCE_FALLBACK: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  let vmRss;
  for (let waitedMs = 0; vmRss === undefined; waitedMs += 10) {
    assert.ok(waitedMs < 30_000, `the child never stopped: ${stderr}`);
    const state = (() => {
      try {
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      } catch {
        return 'gone';
      }
    })();
    assert.notEqual(state, 'gone', `the child ended before stopping: ${stderr}`);
    if (state === 'T') vmRss = statusField('VmRSS', child.pid);
    else await new Promise((resolve) => setTimeout(resolve, 10));
  }
  child.kill('SIGCONT');
  const [code] = await exited;
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout);
  assert.equal(report.implementation, 'fallback');
  assert.match(report.reason, /permission model disables native addons \(run with --allow-addons/);
  // Node's own RSS (libuv reads /proc in C, unchecked), against the kernel's
  // figure for the stopped child: only the pages first touched between the
  // two reads (the rest of the snapshot, the kill) may differ: 0.1-0.5 MB
  // when measured.
  assert.ok(Math.abs(report.rss - vmRss) <= 2 * 1024 * 1024, `resident ${report.rss} bytes, VmRSS ${vmRss}`);
  assert.equal(report.openFds, null, 'open fds: NaN (not readable here), so null in JSON');
});

test("NODE_DEBUG=procmeter says which /proc files the fallback cannot read, once each, and nothing without it", () => {
  const run = (env) =>
    runNode(`import * as procmeter from 'procmeter'; procmeter.collect(); procmeter.collect(); console.log(JSON.stringify({ openFds: procmeter.collect().openFds }));`, {
      nodeArgs: [PERMISSION_FLAG, `--allow-fs-read=${packageRoot}*`, '--no-warnings'],
      env: { PROCMETER_FORCE_FALLBACK: '', ...env },
      cwd: packageRoot,
    });
  const debugged = run({ NODE_DEBUG: 'procmeter' });
  assert.equal(debugged.json().openFds, null);
  const refusals = debugged.stderr.match(/fallback: cannot read \/proc\/self\/fd \(ERR_ACCESS_DENIED: [^)]*\), not tried again/g) ?? [];
  assert.equal(refusals.length, 1, debugged.stderr);
  const quiet = run({ NODE_DEBUG: '' });
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(quiet.stderr, '');
});

test("under Node's permission model with --allow-addons, the native addon is used", () => {
  const report = runNode(REPORT, {
    nodeArgs: [PERMISSION_FLAG, `--allow-fs-read=${packageRoot}*`, '--allow-addons', '--no-warnings'],
    env: { PROCMETER_FORCE_FALLBACK: '' },
    cwd: packageRoot,
  }).json();
  assert.equal(report.implementation, 'native');
  assert.equal(report.diagnostics.fallbackReason, undefined);
});

test("--no-addons under the permission model with --allow-addons: the reason names --no-addons, not the flag already given", () => {
  const report = runNode(REPORT, {
    nodeArgs: [PERMISSION_FLAG, `--allow-fs-read=${packageRoot}*`, '--allow-addons', '--no-addons', '--no-warnings'],
    env: { PROCMETER_FORCE_FALLBACK: '' },
    cwd: packageRoot,
  }).json();
  assert.equal(report.implementation, 'fallback');
  assert.equal(report.diagnostics.fallbackReason, 'native addons are disabled in this process (--no-addons)');
});

test('--no-addons: the fallback, and the reason names --no-addons, not the permission model', () => {
  const child = runNode(REPORT, { nodeArgs: ['--no-addons'], env: { PROCMETER_FORCE_FALLBACK: '' } });
  const report = child.json();
  assert.equal(report.implementation, 'fallback');
  assert.equal(report.diagnostics.fallbackReason, 'native addons are disabled in this process (--no-addons)');
  assert.ok(report.rss > 0);
  assert.equal(child.stderr, '');
});

// Only glibc binaries are built. On musl (told as node-gyp-build tells it:
// LIBC, else /etc/alpine-release) the prebuilds are not tried; a local
// build, made on that system, still is.
test('on musl the glibc prebuilds are skipped, saying why; on glibc the same installation loads them', (t) => {
  const { dir, installed } = projectWithProcmeter(t, 'procmeter-libc-');
  const prebuilds = join(installed, 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(prebuilds, { recursive: true });
  copyLoadedBinary(prebuilds);
  const names = require('procmeter')._internals.prebuildNames();

  const onGlibc = runNode(REPORT, { cwd: dir, env: { LIBC: '' } }).json();
  assert.equal(onGlibc.implementation, 'native');
  assert.ok(onGlibc.diagnostics.binaryPath.startsWith(prebuilds), onGlibc.diagnostics.binaryPath);

  const onMusl = runNode(REPORT, { cwd: dir, env: { LIBC: 'musl' } }).json();
  assert.equal(onMusl.implementation, 'fallback');
  const skipped = onMusl.diagnostics.attempts.filter((attempt) => attempt.path.startsWith(prebuilds));
  assert.deepEqual(
    skipped.map((attempt) => attempt.error),
    [names.v8, names.core].map(() => "built for glibc; this system's C library is musl"),
  );
  assert.ok(onMusl.rss > 0);

  // A bundle's copy of the prebuilds directory, named by PROCMETER_BINARY_PATH: the same.
  const bundledOnMusl = runNode(REPORT, { cwd: dir, env: { LIBC: 'musl', PROCMETER_BINARY_PATH: prebuilds } }).json();
  assert.equal(bundledOnMusl.implementation, 'fallback');
  assert.deepEqual(
    bundledOnMusl.diagnostics.attempts.map((attempt) => [attempt.path, attempt.error]),
    [names.v8, names.core].map((name) => [join(prebuilds, name), "built for glibc; this system's C library is musl"]),
  );
  assert.equal(runNode(REPORT, { cwd: dir, env: { LIBC: '', PROCMETER_BINARY_PATH: prebuilds } }).json().implementation, 'native');
  // One binary named outright is the user's choice (one built on that system, say): tried.
  const namedOnMusl = runNode(REPORT, { cwd: dir, env: { LIBC: 'musl', PROCMETER_BINARY_PATH: join(prebuilds, names.v8) } }).json();
  assert.equal(namedOnMusl.implementation, 'native');
});
