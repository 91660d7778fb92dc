// How procmeter picks native or fallback, and what it tells about it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createRequire } from 'node:module';

import { runNode } from '../helpers/child.mjs';

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
  assert.match(report.diagnostics.binaryPath, /procmeter_v8\.node$/);
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
    writeFileSync(stale, `module.exports = { sample() {}, close() {}, layoutSignature: 'cpuSeconds,', variant: 'core' };`);
    const broken = join(dir, 'broken.js');
    const { LAYOUT_SIGNATURE } = require('../../dist/cjs/generated/layout.js');
    writeFileSync(
      broken,
      `module.exports = { sample() { throw new Error('boom'); }, close() {}, layoutSignature: ${JSON.stringify(LAYOUT_SIGNATURE)} };`,
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

test('NODE_DEBUG=procmeter prints what was tried, on stderr only', () => {
  const child = runNode(REPORT, { env: { NODE_DEBUG: 'procmeter', PROCMETER_BINARY_PATH: '/nonexistent/x.node' } });
  assert.match(child.stderr, /PROCMETER \d+: tried \/nonexistent\/x\.node: /);
  assert.match(child.stderr, /implementation: fallback, GC and heap: fallback \(no native binary could be loaded\)/);
  assert.equal(JSON.parse(child.stdout).implementation, 'fallback');
});

test('require() and import() share one instance with the same exports', () => {
  const report = runNode(`
    import { createRequire } from 'node:module';
    import * as esm from 'procmeter';
    const cjs = createRequire(import.meta.url)('procmeter');
    console.log(JSON.stringify({
      esmKeys: Object.keys(esm).sort(),
      cjsKeys: Object.keys(cjs).sort(),
      sameCollect: esm.collect === cjs.collect,
    }));`).json();
  assert.deepEqual(report.esmKeys, report.cjsKeys);
  assert.ok(report.sameCollect, 'ESM and CJS entry points load separate copies');
});
