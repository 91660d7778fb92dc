// The snapshot layout is defined once and both sides agree on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { binariesNotFrom } from '../../scripts/lib/native-sources.mjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../../', import.meta.url));
// Not part of the API: the layout procmeter was built with.
const { layout } = require('procmeter')._internals;

test('src/generated/layout.ts is up to date with native/snapshot_layout.def', () => {
  const result = spawnSync(process.execPath, ['scripts/generate-layout.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
});

test('the built native addon was compiled from the same layout', () => {
  const binding = require('../../build/Release/procmeter_core.node');
  assert.equal(binding.layoutSignature, layout.LAYOUT_SIGNATURE);
  const fieldsInDefinition = [
    ...readFileSync(`${root}native/snapshot_layout.def`, 'utf8').matchAll(/^PROCMETER_(?:PROCESS|RUNTIME)_SLOT\(\w+, (\w+),/gm),
  ].map((match) => match[1]);
  assert.deepEqual(layout.SLOTS.map((slot) => slot.field), fieldsInDefinition);
  assert.equal(layout.GC_SLOTS_BEGIN, fieldsInDefinition.length);
  // The V8 addon built for this Node (a local build or a prebuild).
  const v8Binding = require(require('procmeter').loadDiagnostics().binaryPath);
  assert.equal(v8Binding.variant, 'v8');
  assert.equal(v8Binding.layoutSignature, layout.LAYOUT_SIGNATURE);
});

test('the native addon refuses a buffer of the wrong type or length instead of touching it', () => {
  const binding = require('../../build/Release/procmeter_core.node');
  for (const bad of [undefined, 42, {}, new Float32Array(64), new Float64Array(layout.SLOT_COUNT - 1), new Uint8Array(1024)]) {
    assert.throws(() => binding.sample(bad), TypeError);
  }
  const exact = new Float64Array(layout.SLOT_COUNT);
  binding.sample(exact);
  assert.ok(exact.subarray(0, layout.PROCESS_SLOT_COUNT).every((value) => !Number.isNaN(value)));
});

// Fresh copies of both addons, not the ones procmeter itself attached.
function withAddonCopies(run) {
  const { mkdtempSync, copyFileSync, rmSync } = require('node:fs');
  const dir = mkdtempSync(`${require('node:os').tmpdir()}/procmeter-attach-`);
  try {
    const sources = { core: `${root}build/Release/procmeter_core.node`, v8: require('procmeter').loadDiagnostics().binaryPath };
    for (const [name, source] of Object.entries(sources)) {
      const copy = `${dir}/procmeter_${name}_copy.node`;
      copyFileSync(source, copy);
      run(name, require(copy));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('sample() without a buffer fills the attached array, and needs one', () => {
  withAddonCopies((name, binding) => {
    assert.throws(() => binding.sample(), { name: 'TypeError', message: /attach\(buffer\) first/ }, name);
    assert.throws(() => binding.attach(new Float64Array(3)), TypeError, name);
    const slots = new Float64Array(layout.SLOT_COUNT);
    binding.attach(slots);
    binding.sample();
    assert.ok(slots.subarray(0, layout.PROCESS_SLOT_COUNT).every((value) => !Number.isNaN(value)), name);
    assert.equal(slots[layout.SLOT.openFds] >= 3, true, name);
  });
});

// The addon keeps a pointer to the attached array's memory: once its buffer
// no longer holds the slots there (detached by a transfer, its memory the
// receiver's now; or shrunk), sample() refuses to write.
test('the attached array is never written once its buffer is detached or shrunk', () => {
  withAddonCopies((name, binding) => {
    const bytes = layout.SLOT_COUNT * Float64Array.BYTES_PER_ELEMENT;
    const resizable = new ArrayBuffer(bytes, { maxByteLength: 2 * bytes });
    // An own property cannot make it pass for a fixed-length buffer.
    Object.defineProperty(resizable, 'resizable', { value: false });
    binding.attach(new Float64Array(resizable, 0, layout.SLOT_COUNT));
    binding.sample();
    resizable.resize(bytes - 8);
    assert.throws(() => binding.sample(), { name: 'TypeError', message: /detached or shrunk/ }, `${name}: shrunk`);

    const slots = new Float64Array(layout.SLOT_COUNT);
    binding.attach(slots);
    const received = new Float64Array(structuredClone(slots.buffer, { transfer: [slots.buffer] })).fill(-1);
    assert.equal(slots.length, 0, name);
    assert.throws(() => binding.sample(), { name: 'TypeError', message: /detached or shrunk/ }, `${name}: detached`);
    assert.ok(received.every((value) => value === -1), `${name}: the transferred memory was written to`);

    // A shared buffer can be neither: taken as it is.
    const shared = new Float64Array(new SharedArrayBuffer(bytes)).fill(NaN);
    binding.attach(shared);
    binding.sample();
    assert.ok(shared.subarray(0, layout.PROCESS_SLOT_COUNT).every((value) => !Number.isNaN(value)), name);
  });
});

// The packing script refuses prebuilds built before the latest change to
// native/ (scripts/lib/native-sources.mjs): the ones npm run prebuild made
// (CI runs this file again after it) carry the fingerprint of these sources,
// and no longer those of a changed copy.
test('prebuilds carry the fingerprint of the native sources they were built from', (t) => {
  // Every architecture's (the fingerprint is in the file, loaded or not).
  const prebuildsRoot = join(root, 'prebuilds');
  const prebuilds = (existsSync(prebuildsRoot) ? readdirSync(prebuildsRoot) : []).flatMap((platform) =>
    readdirSync(join(prebuildsRoot, platform)).filter((name) => name.endsWith('.node')).map((name) => join(prebuildsRoot, platform, name)),
  );
  if (prebuilds.length === 0) return t.skip('no prebuilds (npm run prebuild makes them)');
  assert.deepEqual(binariesNotFrom(root, prebuilds), [], 'built from other sources: run npm run prebuild');
  const changed = mkdtempSync(join(tmpdir(), 'procmeter-sources-'));
  try {
    cpSync(join(root, 'binding.gyp'), join(changed, 'binding.gyp'));
    cpSync(join(root, 'native'), join(changed, 'native'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(changed, 'node_modules'));
    writeFileSync(join(changed, 'native', '.process_sampler.cc.swp'), 'an editor left this');
    assert.deepEqual(binariesNotFrom(changed, prebuilds), [], 'a copy of the same sources (and a file that is none)');
    appendFileSync(join(changed, 'native', 'process_sampler.cc'), '// a fix\n');
    assert.deepEqual(binariesNotFrom(changed, prebuilds), prebuilds);
  } finally {
    rmSync(changed, { recursive: true, force: true });
  }
  // A local node-gyp build is unstamped.
  assert.equal(require('../../build/Release/procmeter_core.node').sourceStamp, 'procmeter-native-source:unstamped');
});
