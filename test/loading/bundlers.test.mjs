// procmeter inside an application's bundle (webpack, esbuild as an ES
// module) or with its dist copied into another project: it loads, finds the
// binaries PROCMETER_BINARY_PATH names, and says what it could not do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import * as esbuild from 'esbuild';
import webpack from 'webpack';

import { runNode } from '../helpers/child.mjs';
import { copyLoadedBinary, linkOpenTelemetry, projectWithProcmeter } from '../helpers/installed-copy.mjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../../', import.meta.url));
const procmeter = require('procmeter');

const REPORT = `
  const s = procmeter.collect();
  console.log(JSON.stringify({
    implementation: procmeter.implementation,
    gcImplementation: procmeter.gcImplementation,
    attempts: procmeter.loadDiagnostics().attempts,
    rss: s.residentMemoryBytes,
    heapUsed: s.heapUsedBytes,
  }));`;

/**
 * A project with procmeter installed, the OpenTelemetry packages beside it,
 * and `native/` holding the binary this Node loaded, under its prebuild name.
 */
function project(t, packageJson = { name: 'app', private: true }) {
  const { dir } = projectWithProcmeter(t, 'procmeter-bundled-');
  linkOpenTelemetry(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson));
  const native = join(dir, 'native');
  mkdirSync(native);
  copyLoadedBinary(native);
  return { dir, native };
}

async function webpackBundle(dir, entry) {
  const compiler = webpack({
    mode: 'production',
    target: 'node',
    context: dir,
    entry: join(dir, entry),
    output: { path: join(dir, 'srv'), filename: 'app.js' },
    optimization: { minimize: false },
    infrastructureLogging: { level: 'error' },
  });
  const stats = await promisify(compiler.run.bind(compiler))();
  await promisify(compiler.close.bind(compiler))();
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  return join(dir, 'srv', 'app.js');
}

test('webpack: the bundle loads the binaries PROCMETER_BINARY_PATH names, and falls back without it', async (t) => {
  const { dir, native } = project(t);
  writeFileSync(join(dir, 'app.js'), `const procmeter = require('procmeter');\n${REPORT}`);
  const bundle = await webpackBundle(dir, 'app.js');
  rmSync(join(dir, 'node_modules', 'procmeter'), { recursive: true }); // the bundle must do without it

  const withBinaries = runNode(`require(${JSON.stringify(bundle)})`, { type: 'commonjs', env: { PROCMETER_BINARY_PATH: native } });
  const report = withBinaries.json();
  assert.equal(report.implementation, 'native', JSON.stringify(report.attempts));
  assert.equal(report.gcImplementation, procmeter.gcImplementation);
  assert.equal(withBinaries.stderr, '');

  const without = runNode(`require(${JSON.stringify(bundle)})`, { type: 'commonjs' });
  const fallback = without.json();
  assert.equal(fallback.implementation, 'fallback');
  assert.ok(fallback.rss > 0 && fallback.heapUsed > 0);
  assert.equal(without.stderr, '');
});

test('webpack: a bundled zero-code start loads the OpenTelemetry peers installed beside the bundle', async (t) => {
  const { dir, native } = project(t);
  writeFileSync(join(dir, 'app.js'), `require('procmeter/register');\nsetTimeout(() => {}, 700);`);
  const bundle = await webpackBundle(dir, 'app.js');
  const child = runNode(`require(${JSON.stringify(bundle)})`, {
    type: 'commonjs',
    env: { PROCMETER_BINARY_PATH: native, OTEL_METRICS_EXPORTER: 'console', OTEL_METRIC_EXPORT_INTERVAL: '200' },
  });
  assert.equal(child.status, 0, child.stderr);
  assert.doesNotMatch(child.stderr, /PROCMETER_MISSING_PEER/);
  assert.match(child.stdout, /name: 'process_cpu_seconds'/);
});

test('esbuild, ES module output: loads (no __dirname there), finds the binaries PROCMETER_BINARY_PATH names, and says it needs it', async (t) => {
  const { dir, native } = project(t);
  writeFileSync(join(dir, 'app.mjs'), `import * as procmeter from 'procmeter';\n${REPORT}`);
  const bundle = join(dir, 'srv', 'app.mjs');
  await esbuild.build({
    entryPoints: [join(dir, 'app.mjs')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'error',
    // What an ES-module bundle of CommonJS code needs (esbuild's documented banner).
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  rmSync(join(dir, 'node_modules', 'procmeter'), { recursive: true });

  const report = runNode(`await import(${JSON.stringify(bundle)})`, { env: { PROCMETER_BINARY_PATH: native } }).json();
  assert.equal(report.implementation, 'native', JSON.stringify(report.attempts));

  const without = runNode(`await import(${JSON.stringify(bundle)})`);
  const fallback = without.json();
  assert.equal(fallback.implementation, 'fallback');
  assert.ok(fallback.rss > 0);
  assert.match(fallback.attempts[0].error, /PROCMETER_BINARY_PATH/);
  assert.equal(without.stderr, '');
});

test('dist copied into a project of "type": "module": both entry points load, and the meter carries procmeter’s version, not the project’s', (t) => {
  const { dir } = project(t, { name: 'vendoring-app', version: '9.9.9', type: 'module' });
  cpSync(join(dir, 'node_modules', 'procmeter', 'dist'), join(dir, 'vendor', 'procmeter'), { recursive: true });
  const version = JSON.parse(require('node:fs').readFileSync(join(root, 'package.json'), 'utf8')).version;
  const report = runNode(
    `import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
     import * as esm from './vendor/procmeter/esm/index.mjs';
     import { createRequire } from 'node:module';
     const cjs = createRequire(import.meta.url)('./vendor/procmeter/cjs/index.js');
     class Reader extends MetricReader { onForceFlush() { return Promise.resolve(); } onShutdown() { return Promise.resolve(); } }
     const reader = new Reader();
     esm.registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }) });
     const { resourceMetrics } = await reader.collect();
     console.log(JSON.stringify({ same: esm.collect === cjs.collect, scope: resourceMetrics.scopeMetrics[0].scope }));`,
    { cwd: dir },
  ).json();
  assert.equal(report.same, true);
  assert.equal(report.scope.name, 'procmeter');
  assert.equal(report.scope.version, version);
});
