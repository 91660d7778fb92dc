// The snapshot layout is defined once and both sides agree on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../../', import.meta.url));
const layout = require('../../dist/cjs/generated/layout.js');

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

test('the addon’s own slot buffer cannot be transferred away from it', async () => {
  await import('procmeter');
  const binding = require('../../build/Release/procmeter_core.node');
  assert.ok(binding.slots instanceof Float64Array);
  assert.equal(binding.slots.length, layout.SLOT_COUNT);
  binding.sample();
  assert.ok(binding.slots.subarray(0, layout.PROCESS_SLOT_COUNT).every((value) => !Number.isNaN(value)));
  // Node 20 ignores an untransferable buffer in a transfer list (and
  // copies); Node 21+ throws DataCloneError. Either way it stays attached.
  try {
    structuredClone(binding.slots, { transfer: [binding.slots.buffer] });
  } catch (error) {
    assert.equal(error.name, 'DataCloneError');
  }
  assert.equal(binding.slots.length, layout.SLOT_COUNT, 'the buffer was detached');
  binding.slots.fill(0);
  binding.sample();
  assert.ok(binding.slots[0] > 0, 'the view still works after the refused transfer');
});
