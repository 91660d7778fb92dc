// The zero-code start where the OpenTelemetry peer packages are not all
// there (they are optional peers: npm does not install them with procmeter),
// or are there but do not work as procmeter expects: the application runs
// on, with a warning saying what is missing and how to get it.
//
// Each test builds a project in a temporary directory: procmeter copied in
// (a copy, not a link, so that its require() of a peer looks in that
// project's node_modules only) and the chosen peers linked from this
// repository's node_modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { projectWithProcmeter } from '../helpers/installed-copy.mjs';
import { freePort } from '../helpers/net.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const API = '@opentelemetry/api';
const SDK = ['@opentelemetry/api', '@opentelemetry/sdk-metrics', '@opentelemetry/resources'];

// Prints what the start did once it settled, then keeps the process up for
// APP_MS so that periodic exporters get to export.
const APP = `
const { started } = require('procmeter/register');
started.prometheusUrl.then((url) => {
  console.log(JSON.stringify({ url: url ?? null, owns: started.ownsMeterProvider, registered: started.metrics !== undefined }));
  setTimeout(() => {}, Number(process.env.APP_MS ?? 0));
});
`;

/** A project with procmeter and the given peers; `fakes` maps package names to their index.js source. */
function project(t, { peers = [], fakes = {} } = {}) {
  const { dir, installed: packageDir } = projectWithProcmeter(t, 'procmeter-peers-');
  // The binaries may be linked: dlopen() does not resolve modules.
  symlinkSync(join(root, 'build'), join(packageDir, 'build'));
  for (const name of peers) {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  for (const [name, source] of Object.entries(fakes)) {
    const fakeDir = join(dir, 'node_modules', name);
    mkdirSync(fakeDir, { recursive: true });
    writeFileSync(join(fakeDir, 'package.json'), JSON.stringify({ name, version: '1.30.0', main: 'index.js' }));
    writeFileSync(join(fakeDir, 'index.js'), source);
  }
  writeFileSync(join(dir, 'app.cjs'), APP);
  writeFileSync(join(dir, 'app.mjs'), `${APP.replace("const { started } = require('procmeter/register');", "import { started } from 'procmeter/register';")}`);
  return dir;
}

async function run(dir, args, env) {
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: { ...process.env, NODE_PATH: '', NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const [code, signal] = await once(child, 'exit');
  const report = stdout.split('\n')[0];
  return { code, signal, stdout, stderr, report: report ? JSON.parse(report) : undefined };
}

function warnings(stderr, code) {
  return stderr.match(new RegExp(`\\[${code}\\] Warning: [^\\n]*`, 'g')) ?? [];
}

for (const [kind, args] of [
  ['CommonJS', ['-r', 'procmeter/register', 'app.cjs']],
  ['ESM', ['--import', 'procmeter/register', 'app.mjs']],
]) {
  test(`${kind} app, no OpenTelemetry package installed: it runs and ends as usual, with a warning naming ${API}`, async (t) => {
    const dir = project(t);
    const port = await freePort();
    const result = await run(dir, args, { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.report, { url: null, owns: false, registered: false });
    const missing = warnings(result.stderr, 'PROCMETER_MISSING_PEER');
    assert.equal(missing.length, 1, result.stderr);
    assert.match(missing[0], /no metrics are exported: it needs @opentelemetry\/api, which could not be loaded \(npm install @opentelemetry\/api\)/);
  });
}

test('the Prometheus exporter missing: that exporter is left out with a warning, the console exporter next to it exports', async (t) => {
  const dir = project(t, { peers: SDK });
  const port = await freePort();
  const result = await run(dir, ['-r', 'procmeter/register', 'app.cjs'], {
    OTEL_METRICS_EXPORTER: 'prometheus,console',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
    OTEL_METRIC_EXPORT_INTERVAL: '200',
    APP_MS: '700',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.report, { url: null, owns: true, registered: true });
  const missing = warnings(result.stderr, 'PROCMETER_MISSING_PEER');
  assert.equal(missing.length, 1, result.stderr);
  assert.match(missing[0], /OTEL_METRICS_EXPORTER=prometheus is left out: it needs @opentelemetry\/exporter-prometheus/);
  // The console exporter prints the SDK's data points, by descriptor name.
  assert.match(result.stdout, /name: 'process_cpu_seconds'/);
});

test('the only exporter asked for is missing: no provider is set up, and the global place stays free for the application', async (t) => {
  const dir = project(t, { peers: SDK });
  const result = await run(dir, ['-r', 'procmeter/register', '-e', `
    const { started } = require('procmeter/register');
    const api = require('@opentelemetry/api');
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    console.log(JSON.stringify({ owns: started.ownsMeterProvider, globalFree: api.metrics.setGlobalMeterProvider(new MeterProvider()) }));
  `], { OTEL_METRICS_EXPORTER: 'otlp' });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.report, { owns: false, globalFree: true });
  assert.match(warnings(result.stderr, 'PROCMETER_MISSING_PEER').join('\n'), /OTEL_METRICS_EXPORTER=otlp is left out: it needs @opentelemetry\/exporter-metrics-otlp-http/);
});

test('a peer that loads but lacks what procmeter calls (as @opentelemetry/resources 1.x lacks defaultResource): a warning, nothing set up, the app ends as usual', async (t) => {
  // Stands in for an SDK generation procmeter does not support; the real
  // sdk-metrics and api are used.
  const dir = project(t, { peers: ['@opentelemetry/api', '@opentelemetry/sdk-metrics'], fakes: { '@opentelemetry/resources': 'exports.Resource = class Resource {};\n' } });
  const result = await run(dir, ['-r', 'procmeter/register', '-e', `
    const { started } = require('procmeter/register');
    const api = require('@opentelemetry/api');
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    console.log(JSON.stringify({ owns: started.ownsMeterProvider, registered: started.metrics !== undefined, globalFree: api.metrics.setGlobalMeterProvider(new MeterProvider()) }));
  `], { OTEL_METRICS_EXPORTER: 'console', OTEL_METRIC_EXPORT_INTERVAL: '100' });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.report, { owns: false, registered: false, globalFree: true });
  const failed = warnings(result.stderr, 'PROCMETER_START_FAILED');
  assert.equal(failed.length, 1, result.stderr);
  assert.match(failed[0], /no metrics are exported: setting up OpenTelemetry failed: .*defaultResource is not a function/);
  assert.doesNotMatch(result.stdout, /process_cpu_seconds/, 'nothing exported');
});

test('a peer whose loading throws something that is not an Error (a prototype-less object, with no toString): a warning, the app ends as usual', async (t) => {
  // Whatever a peer throws, turning it into the warning's text must not
  // throw a second time, out of the preload and into the application.
  const dir = project(t, {
    peers: ['@opentelemetry/api', '@opentelemetry/resources'],
    fakes: { '@opentelemetry/sdk-metrics': 'throw Object.create(null);\n' },
  });
  const result = await run(dir, ['-r', 'procmeter/register', 'app.cjs'], { OTEL_METRICS_EXPORTER: 'console' });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.report, { url: null, owns: false, registered: false });
  const missing = warnings(result.stderr, 'PROCMETER_MISSING_PEER');
  assert.equal(missing.length, 1, result.stderr);
  assert.match(missing[0], /it needs @opentelemetry\/sdk-metrics, which could not be loaded \(npm install @opentelemetry\/sdk-metrics\): a thrown value that cannot be shown as text/);
});
