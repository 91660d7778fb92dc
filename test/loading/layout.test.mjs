// The snapshot layout is defined once and both sides agree on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

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

test('sample() without a buffer fills the attached array, and needs one', () => {
  // A fresh copy of the Node-API addon, not the one procmeter itself attached.
  const { mkdtempSync, copyFileSync, rmSync } = require('node:fs');
  const dir = mkdtempSync(`${require('node:os').tmpdir()}/procmeter-attach-`);
  try {
    const copy = `${dir}/procmeter_core.node`;
    copyFileSync(`${root}build/Release/procmeter_core.node`, copy);
    const binding = require(copy);
    assert.throws(() => binding.sample(), { name: 'TypeError', message: /attach\(buffer\) first/ });
    assert.throws(() => binding.attach(new Float64Array(3)), TypeError);
    const slots = new Float64Array(layout.SLOT_COUNT);
    binding.attach(slots);
    binding.sample();
    assert.ok(slots.subarray(0, layout.PROCESS_SLOT_COUNT).every((value) => !Number.isNaN(value)));
    assert.equal(slots[layout.SLOT.openFds] >= 3, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
