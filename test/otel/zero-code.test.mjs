// The zero-code start (node --import / -r procmeter/register) with each
// exporter, in an ESM and a CommonJS app; joining an application's own
// MeterProvider; flushing on exit; and the demo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort } from '../helpers/net.mjs';

import { startOtlpReceiver, otlpMetrics } from '../helpers/otlp-receiver.mjs';

const require = createRequire(import.meta.url);

const root = fileURLToPath(new URL('../../', import.meta.url));
const APPS = {
  esm: ['--import', 'procmeter/register', 'test/fixtures/app.mjs'],
  cjs: ['-r', 'procmeter/register', 'test/fixtures/app.cjs'],
};

/**
 * Starts `node args` from the repository root; collects its output. With
 * APP_SECONDS=stdin the app works until the test ends its stdin.
 */
function start(args, env) {
  const stdin = env.APP_SECONDS === 'stdin' ? 'pipe' : 'ignore';
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d) => (output.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (output.stderr += d));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  const firstLine = new Promise((resolve, reject) => {
    child.stdout.on('data', () => {
      const line = output.stdout.split('\n')[0];
      if (output.stdout.includes('\n')) resolve(line);
    });
    exited.then(() => reject(new Error(`exited before printing: ${output.stderr}`)));
  });
  firstLine.catch(() => {}); // tests that expect an early exit never ask for it
  return { child, output, exited, firstLine };
}

/**
 * Starts an app that serves its metrics on a free port (env adds to, or
 * overrides, the Prometheus settings) and checks the URL it reports.
 */
async function startServing(args, env) {
  const port = await freePort();
  const app = start(args, { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), ...env });
  const report = JSON.parse(await app.firstLine);
  assert.equal(report.prometheusUrl, `http://127.0.0.1:${port}/metrics`);
  return { app, report, port };
}

for (const [kind, args] of Object.entries(APPS)) {
  test(`${kind} app, OTEL_METRICS_EXPORTER=prometheus: metrics served on 127.0.0.1, and the app still ends on its own`, { timeout: 60_000 }, async () => {
    const { app, report, port } = await startServing(args, { APP_SECONDS: 'stdin' });
    assert.equal(report.owns, true);
    const text = await (await fetch(report.prometheusUrl)).text();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
      assert.match(text, new RegExp(`^${name}\\{`, 'm'), `${name} in the exposition`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    app.child.stdin.end(); // the app's work stops; the endpoint must not keep the process alive
    const { code, signal } = await app.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, app.output.stderr);
  });

  test(`${kind} app, OTEL_METRICS_EXPORTER=otlp: exports with the service's resource, and flushes when it ends`, async () => {
    const receiver = await startOtlpReceiver();
    try {
      const app = start(args, {
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base,
        OTEL_METRIC_EXPORT_INTERVAL: '60000', // only the flush at exit exports
        OTEL_SERVICE_NAME: `zero-code-${kind}`,
        // The CommonJS app names its instance; the ESM app gets a random one.
        OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=test${kind === 'cjs' ? ',service.instance.id=pod-7' : ''}`,
        PROCMETER_NAMING: 'semconv',
        APP_SECONDS: '0.5',
      });
      const { code } = await app.exited;
      assert.equal(code, 0, app.output.stderr);
      await receiver.waitFor((requests) => requests.length > 0, 5000);
      assert.equal(receiver.requests[0].path, '/v1/metrics');
      const metrics = otlpMetrics(receiver.requests);
      const cpu = metrics.find((m) => m.name === 'process.cpu.time');
      assert.ok(cpu, 'process.cpu.time exported');
      assert.equal(cpu.kind, 'sum');
      assert.equal(cpu.data.isMonotonic, true);
      assert.equal(cpu.resource['service.name'], `zero-code-${kind}`);
      assert.equal(cpu.resource['deployment.environment.name'], 'test');
      assert.equal(cpu.resource['process.runtime.name'], 'nodejs');
      assert.equal(cpu.resource['process.runtime.version'], process.versions.node);
      // What tells processes of one service apart once the Collector turns
      // the resource into Prometheus labels (instance).
      if (kind === 'cjs') assert.equal(cpu.resource['service.instance.id'], 'pod-7');
      else assert.match(cpu.resource['service.instance.id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    } finally {
      await receiver.close();
    }
  });
}

test('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as given, and SIGTERM flushes before the process ends by the signal', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const app = start(APPS.esm, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.base}/custom/path`,
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      APP_SECONDS: '60',
    });
    await app.firstLine;
    app.child.kill('SIGTERM');
    const { signal } = await app.exited;
    assert.equal(signal, 'SIGTERM', 'the process ends the way SIGTERM ends it');
    await receiver.waitFor((requests) => requests.length > 0, 5000);
    assert.equal(receiver.requests[0].path, '/custom/path');
    assert.ok(otlpMetrics(receiver.requests).some((m) => m.name === 'process_cpu_seconds'));
  } finally {
    await receiver.close();
  }
});

test('an application SIGTERM handler registered with once() before procmeter decides how the process ends; the flush still happens', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const app = start(['-r', './test/fixtures/sigterm-once.cjs', ...APPS.cjs], {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base,
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      APP_SECONDS: '60',
    });
    await app.firstLine;
    app.child.kill('SIGTERM');
    const { code, signal } = await app.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the handler drains, then exits 0 (not killed by a re-raised signal): ${app.output.stderr}`);
    assert.match(app.output.stderr, /^drained$/m);
    await receiver.waitFor((requests) => requests.length > 0, 5000);
    assert.ok(otlpMetrics(receiver.requests).some((m) => m.name === 'process_cpu_seconds'));
  } finally {
    await receiver.close();
  }
});

test('an application that handles SIGTERM itself goes on exporting and serving its metrics through its drain', { timeout: 60_000 }, async () => {
  const receiver = await startOtlpReceiver();
  try {
    const port = await freePort();
    const app = start(['-r', './test/fixtures/sigterm-once.cjs', ...APPS.cjs], {
      OTEL_METRICS_EXPORTER: 'prometheus,otlp',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base,
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      APP_SECONDS: '60',
    });
    const { prometheusUrl } = JSON.parse(await app.firstLine);
    assert.equal((await fetch(prometheusUrl)).status, 200);
    app.child.kill('SIGTERM');
    // procmeter's SIGTERM flush, while the application drains (3 s).
    await receiver.waitFor((requests) => requests.length > 0, 2500);
    const during = await fetch(prometheusUrl);
    assert.equal(during.status, 200, 'still served during the drain');
    assert.match(await during.text(), /^process_cpu_seconds_total\{/m);
    const { code, signal } = await app.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, app.output.stderr);
  } finally {
    await receiver.close();
  }
});

test('with only the Prometheus endpoint (nothing to flush), SIGTERM is left to Node: a process whose event loop is blocked still ends on it', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ['-r', 'procmeter/register', '-e', "setTimeout(() => { console.log('blocking'); for (;;); }, 300)"], {
    cwd: root,
    env: { ...process.env, OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  child.kill('SIGTERM');
  const ended = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 5_000))]);
  if (ended === 'still running') child.kill('SIGKILL');
  assert.deepEqual(ended, { code: null, signal: 'SIGTERM' }, stderr);
});

test('with signal-exit loaded first (a listener that re-raises SIGTERM when it is the last one), SIGTERM still ends the process', { timeout: 30_000 }, async () => {
  const app = start(['-r', './test/fixtures/signal-exit.cjs', ...APPS.cjs], { OTEL_METRICS_EXPORTER: 'console', OTEL_METRIC_EXPORT_INTERVAL: '60000', APP_SECONDS: '60' });
  await app.firstLine;
  app.child.kill('SIGTERM');
  const ended = await Promise.race([app.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
  if (ended === 'still running') app.child.kill('SIGKILL');
  assert.deepEqual(ended, { code: null, signal: 'SIGTERM' }, app.output.stderr);
});

test('worker threads inherit the preload, but only the main thread sets up a provider and an endpoint', { timeout: 60_000 }, async () => {
  const { app, report } = await startServing(APPS.cjs, { APP_SECONDS: 'stdin', APP_WORKERS: '3' });
  assert.match(await (await fetch(report.prometheusUrl)).text(), /^process_cpu_seconds_total\{/m);
  app.child.stdin.end();
  const { code } = await app.exited;
  assert.equal(code, 0, app.output.stderr);
  // A worker with an endpoint of its own would have found the port taken.
  assert.doesNotMatch(app.output.stderr, /PROCMETER_PROMETHEUS_LISTEN|EADDRINUSE/);
});

// With procmeter's own provider, and joining the application's (set up by a
// preload that runs first).
for (const joined of [false, true]) {
  test(`the zero-code start's main thread reports the process metrics on ${joined ? "the application's" : 'its'} endpoint, also when a worker's registration collects before the first scrape`, { timeout: 60_000 }, async () => {
  const port = await freePort();
  const app = start(
    [
      ...(joined ? ['--import', './test/fixtures/own-sdk.mjs'] : []),
      '--import', 'procmeter/register', '--input-type=module', '-e',
      `import { Worker } from 'node:worker_threads';
       // (The worker inherits --input-type=module: its code is a module too.)
       const worker = new Worker(\`
         (async () => {
           const { parentPort } = await import('node:worker_threads');
           const { registerProcessMetrics } = await import('procmeter');
           const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics');
           class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
           const reader = new Reader();
           const handle = registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [reader] }) });
           await reader.collect();
           parentPort.postMessage(handle.reportsProcessMetrics);
           setInterval(() => reader.collect(), 50);
         })();\`, { eval: true });
       const workerReports = await new Promise((resolve) => worker.once('message', resolve));
       let text = '';
       for (let tries = 0; tries < 100 && text === ''; tries++) {
         text = await fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text(), () => new Promise((resolve) => setTimeout(() => resolve(''), 50)));
       }
       console.log(JSON.stringify({ workerReports, mainServes: /^process_cpu_seconds_total\\{/m.test(text) }));
       await worker.terminate();`,
    ],
    joined ? { OTEL_METRICS_EXPORTER: 'none', OWN_SDK_PORT: String(port) } : { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
  );
  const report = JSON.parse(await app.firstLine);
  if (joined) app.child.kill(); // the application's endpoint is not unref'd
  const { code, signal } = await app.exited;
  if (!joined) assert.equal(code, 0, app.output.stderr);
  else assert.equal(signal, 'SIGTERM', app.output.stderr);
  assert.deepEqual(report, { workerReports: false, mainServes: true });
  });
}

// NODE_OPTIONS reaches every Node process, npm's own included, which starts
// first: the endpoint must be the application's, with its metrics.
test("preloaded through NODE_OPTIONS under npm, the application's start serves its metrics, not npm's", { timeout: 60_000 }, async () => {
  const port = await freePort();
  const app = spawn('npm', ['exec', '--offline', '--', 'node', 'test/fixtures/app.cjs'], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '-r procmeter/register', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), APP_SECONDS: '30' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: npm, the shell it runs, and the application
  });
  let stdout = '';
  let stderr = '';
  app.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  app.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = once(app, 'exit');
  try {
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('\n') && Date.now() < deadline && app.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50));
    const report = JSON.parse(stdout.split('\n')[0]);
    assert.equal(report.prometheusUrl, `http://127.0.0.1:${port}/metrics`, stderr);
    const text = await (await fetch(report.prometheusUrl)).text();
    // The application's process (started by npm, through a shell), not npm's.
    const parentOf = (pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    const served = Number(/^target_info\{[^}]*process_pid="(\d+)"/m.exec(text)?.[1]);
    assert.notEqual(served, app.pid, 'npm serves the endpoint');
    const ancestors = [];
    for (let pid = served; pid > 1 && ancestors.length < 5; pid = parentOf(pid)) ancestors.push(pid);
    assert.ok(ancestors.includes(app.pid), `the endpoint's process ${served} is not started by npm (${app.pid}): ${ancestors}`);
    assert.doesNotMatch(stderr, /PROCMETER_PROMETHEUS_LISTEN/);
  } finally {
    process.kill(-app.pid, 'SIGKILL');
    await exited;
  }
});

test('OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf still exports (as JSON, which the Collector accepts) and says so', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const app = start(APPS.cjs, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base,
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      APP_SECONDS: '0.3',
    });
    assert.equal((await app.exited).code, 0, app.output.stderr);
    await receiver.waitFor((requests) => requests.length > 0, 5000);
    assert.ok(otlpMetrics(receiver.requests).some((m) => m.name === 'process_cpu_seconds'));
    assert.match(app.output.stderr, /\[PROCMETER_OTLP_JSON\] Warning: procmeter\/register: OTLP\/HTTP is exported with JSON bodies/);
  } finally {
    await receiver.close();
  }
});

test('OTEL_METRICS_EXPORTER=console prints the metrics; =none sets up nothing', async () => {
  const consoleApp = start(APPS.cjs, { OTEL_METRICS_EXPORTER: 'console', OTEL_METRIC_EXPORT_INTERVAL: '200', APP_SECONDS: '0.8' });
  assert.equal((await consoleApp.exited).code, 0, consoleApp.output.stderr);
  assert.match(consoleApp.output.stdout, /process_cpu_seconds/);

  const port = await freePort();
  const none = start(APPS.esm, { OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), APP_SECONDS: '0.3' });
  const report = JSON.parse(await none.firstLine);
  assert.equal(report.prometheusUrl, null);
  assert.equal((await none.exited).code, 0, none.output.stderr);
});

test('with the application’s own global MeterProvider, procmeter only adds its instruments to it', async () => {
  const ownPort = await freePort();
  const unusedPort = await freePort();
  const app = start(['--import', './test/fixtures/own-sdk.mjs', ...APPS.esm], {
    OWN_SDK_PORT: String(ownPort),
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(unusedPort),
    APP_SECONDS: '30',
  });
  try {
    const report = JSON.parse(await app.firstLine);
    assert.deepEqual(report, { prometheusUrl: null, owns: false });
    // The app's exporter starts its server asynchronously: wait for it.
    let text = '';
    for (let attempt = 0; attempt < 40 && !text; attempt++) {
      text = await fetch(`http://127.0.0.1:${ownPort}/metrics`).then((r) => r.text(), () => '');
      if (!text) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(text, /^process_cpu_seconds_total\{/m, 'procmeter metrics on the app’s endpoint');
    await assert.rejects(fetch(`http://127.0.0.1:${unusedPort}/metrics`), 'procmeter started no server of its own');
  } finally {
    app.child.kill('SIGKILL');
    await app.exited;
  }
});

test('joining the application’s MeterProvider, only the variables procmeter still reads are checked: no warnings about exporter settings nobody uses', async () => {
  const ownPort = await freePort();
  const warningsWith = async (env) => {
    const app = start(['--import', './test/fixtures/own-sdk.mjs', ...APPS.esm], { OWN_SDK_PORT: String(ownPort), APP_SECONDS: '0.3', ...env });
    assert.deepEqual(JSON.parse(await app.firstLine), { prometheusUrl: null, owns: false });
    assert.equal((await app.exited).code, 0, app.output.stderr);
    return app.output.stderr.match(/\[PROCMETER_[A-Z_]+\] Warning: [^\n]*/g) ?? [];
  };
  // Set for the application's own SDK, or for other signals (gRPC traces, say).
  const exporterSettings = {
    OTEL_METRICS_EXPORTER: 'otlp,zipkin',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
    OTEL_METRIC_EXPORT_INTERVAL: '30s',
    OTEL_EXPORTER_PROMETHEUS_PORT: 'http',
    OTEL_LOG_LEVEL: 'loud',
  };
  assert.deepEqual(await warningsWith(exporterSettings), []);
  const naming = await warningsWith({ ...exporterSettings, PROCMETER_NAMING: 'otel' });
  assert.equal(naming.length, 1, naming.join('\n'));
  assert.match(naming[0], /\[PROCMETER_INVALID_SETTING\] .*PROCMETER_NAMING must be one of prometheus, semconv/);
});

test('OTEL_LOG_LEVEL prints the SDK\'s diagnostics, a failing export among them, as the OpenTelemetry Node SDK does; unset, nothing is printed', { timeout: 60_000 }, async () => {
  const nobodyListens = await freePort();
  const stderrWith = async (env) => {
    const app = start(APPS.cjs, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobodyListens}`,
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      APP_SECONDS: '1.5',
      ...env,
    });
    assert.equal((await app.exited).code, 0, app.output.stderr);
    return app.output.stderr;
  };
  assert.match(await stderrWith({ OTEL_LOG_LEVEL: 'error' }), /export.*ECONNREFUSED|ECONNREFUSED.*export/is);
  assert.doesNotMatch(await stderrWith({}), /ECONNREFUSED/);
  // What the exporter says while it is made, too.
  assert.match(await stderrWith({ OTEL_LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'bogus' }), /OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE/);
});

test("OTEL_LOG_LEVEL leaves a diag logger the application set up first in place", { timeout: 60_000 }, async () => {
  const nobodyListens = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-diag-'));
  try {
    const ownLogger = join(dir, 'own-logger.cjs');
    writeFileSync(
      ownLogger,
      `const { diag, DiagLogLevel } = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
       const seen = [];
       const log = (...args) => seen.push(args.join(' '));
       diag.setLogger({ error: log, warn: log, info: log, debug: log, verbose: log }, DiagLogLevel.ERROR);
       process.on('exit', () => process.stdout.write('\\nOWN LOGGER ' + JSON.stringify(seen.some((line) => /ECONNREFUSED/.test(line))) + '\\n'));`,
    );
    const app = start(['-r', ownLogger, ...APPS.cjs], {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobodyListens}`,
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      OTEL_LOG_LEVEL: 'error',
      APP_SECONDS: '1.5',
    });
    assert.equal((await app.exited).code, 0, app.output.stderr);
    assert.match(app.output.stdout, /OWN LOGGER true/, 'the application\'s logger got the failed export');
    assert.doesNotMatch(app.output.stderr, /ECONNREFUSED/, 'procmeter set a console logger over it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OTEL_LOG_LEVEL sets no console logger for good when procmeter ends up with no provider of its own (its exporter package missing)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-nologger-'));
  try {
    const hideExporter = join(dir, 'hide-exporter.cjs');
    writeFileSync(
      hideExporter,
      `const Module = require('node:module');
       const load = Module._load;
       Module._load = function (request, ...rest) {
         if (request === '@opentelemetry/exporter-metrics-otlp-http') throw Object.assign(new Error('not installed'), { code: 'MODULE_NOT_FOUND' });
         return load.call(this, request, ...rest);
       };`,
    );
    const app = join(dir, 'app.cjs');
    writeFileSync(
      app,
      `const { started } = require(${JSON.stringify(join(root, 'dist/cjs/register.js'))}); // the preloaded one
       const { diag, DiagLogLevel } = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
       // The application's own logger, set later (as its SDK would): it takes over quietly.
       const seen = [];
       diag.setLogger({ error: (m) => seen.push(m), warn: (m) => seen.push(m), info: (m) => seen.push(m), debug: () => {}, verbose: () => {} }, DiagLogLevel.INFO);
       console.log(JSON.stringify({ owns: started.ownsMeterProvider, seen }));`,
    );
    const child = spawnSync(process.execPath, ['-r', hideExporter, '-r', 'procmeter/register', app], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, OTEL_METRICS_EXPORTER: 'otlp', OTEL_LOG_LEVEL: 'info' },
    });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { owns: false, seen: [] });
    assert.doesNotMatch(child.stderr, /Current logger will/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the start stays out of Yarn 2+, which runs the project\'s .yarn/releases/yarn-<version>.cjs with the same NODE_OPTIONS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-yarn-'));
  try {
    mkdirSync(join(dir, '.yarn', 'releases'), { recursive: true });
    const release = join(dir, '.yarn', 'releases', 'yarn-4.5.1.cjs');
    // Stands in for Yarn: what the preload set up in it.
    writeFileSync(release, `require(${JSON.stringify(join(root, 'dist/cjs/register.js'))}).started.prometheusUrl.then((url) => console.log(JSON.stringify({ url: url ?? null })));`);
    const port = await freePort();
    const yarn = start(['-r', 'procmeter/register', release], { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) });
    assert.deepEqual(JSON.parse(await yarn.firstLine), { url: null });
    assert.equal((await yarn.exited).code, 0, yarn.output.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an invalid setting is reported, naming the variable, and replaced by its default (or what needed it left out)', () => {
  const { settingsFromEnvironment } = require('../../dist/cjs/otel/index.js');
  const defaults = settingsFromEnvironment({});
  assert.deepEqual([defaults.invalid, defaults.invalidForOwnProvider], [[], []]);
  for (const [env, message, expected] of [
    [{ OTEL_METRICS_EXPORTER: 'prometheus,zipkin' }, /OTEL_METRICS_EXPORTER lists 'zipkin', which is left out; accepted: otlp, prometheus, console, none/, { exporters: ['prometheus'] }],
    [{ OTEL_METRICS_EXPORTER: 'zipkin' }, /OTEL_METRICS_EXPORTER lists 'zipkin'/, { exporters: [] }],
    [
      { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: 'http' },
      /OTEL_EXPORTER_PROMETHEUS_PORT must be a positive integer up to 65535; got 'http', using 9464/,
      { exporters: ['prometheus'], prometheusPort: 9464 },
    ],
    [{ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '70000' }, /OTEL_EXPORTER_PROMETHEUS_PORT must be a positive integer/, { exporters: ['prometheus'], prometheusPort: 9464 }],
    [{ OTEL_METRIC_EXPORT_INTERVAL: '30s' }, /OTEL_METRIC_EXPORT_INTERVAL must be a positive integer .*got '30s', using 60000/, { exportIntervalMs: 60_000 }],
    [{ OTEL_METRIC_EXPORT_TIMEOUT: '-1' }, /OTEL_METRIC_EXPORT_TIMEOUT must be a positive integer .*got '-1', using 30000/, { exportTimeoutMs: 30_000 }],
    // The default timeout is capped at the interval, and the warning names the value used.
    [
      { OTEL_METRIC_EXPORT_TIMEOUT: 'soon', OTEL_METRIC_EXPORT_INTERVAL: '5000' },
      /got 'soon', using 5000$/,
      { exportIntervalMs: 5000, exportTimeoutMs: 5000, otlpExporterConfig: { timeoutMillis: 2500 } },
    ],
    [{ PROCMETER_NAMING: 'otel' }, /PROCMETER_NAMING must be one of prometheus, semconv; got 'otel', using prometheus/, { naming: 'prometheus' }],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL is 'grpc'; the zero-code start exports OTLP over HTTP.*; metrics are not exported over OTLP/, { exporters: [] }],
    [
      { OTEL_METRICS_EXPORTER: 'otlp,console', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL is 'grpc'/,
      { exporters: ['console'] },
    ],
    // An unknown enum value is ignored (the specification): the generic
    // variable applies, else the default; a typo does not stop the export.
    [
      { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'thrift', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
      /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL is 'thrift', not one of grpc, http\/protobuf, http\/json; ignored/,
      { otlpProtocol: 'http/protobuf' },
    ],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }, /OTEL_EXPORTER_OTLP_PROTOCOL is 'http', not one of/, { exporters: ['otlp'], otlpProtocol: 'http/json' }],
    [{ OTEL_SDK_DISABLED: 'yes' }, /OTEL_SDK_DISABLED is 'yes', which counts as false: only 'true' disables/, { sdkDisabled: false }],
    [{ OTEL_LOG_LEVEL: 'loud' }, /OTEL_LOG_LEVEL must be one of NONE, ERROR, WARN, INFO, DEBUG, VERBOSE, ALL; got 'LOUD', using INFO/, { logLevel: 'INFO' }],
    // Without a scheme the exporter would fail at every export, silently.
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL .*got 'collector:4318'; metrics are not exported over OTLP/, { exporters: [] }],
    [{ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'not a url' }, /OTEL_EXPORTER_OTLP_METRICS_ENDPOINT must be an http:\/\/ or https:\/\/ URL/, { exporters: [] }],
  ]) {
    const settings = settingsFromEnvironment(env);
    const reported = [...settings.invalid, ...settings.invalidForOwnProvider];
    assert.equal(reported.length, 1, `${JSON.stringify(env)}: ${reported.join(' | ')}`);
    assert.match(reported[0], message);
    // Only PROCMETER_NAMING and OTEL_SDK_DISABLED matter when procmeter joins an application's provider.
    assert.equal(settings.invalid.length, /^(PROCMETER_NAMING|OTEL_SDK_DISABLED) /.test(reported[0]) ? 1 : 0, reported[0]);
    assert.deepEqual({ ...settings, ...expected, invalid: [], invalidForOwnProvider: [] }, { ...defaults, ...expected }, JSON.stringify(env));
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((key) => [key, settings[key]])), expected, JSON.stringify(env));
  }
  // Read by no exporter in use (only the periodic ones have an interval):
  // no warning about it.
  const scraped = settingsFromEnvironment({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_METRIC_EXPORT_INTERVAL: '30s', OTEL_METRIC_EXPORT_TIMEOUT: 'soon' });
  assert.deepEqual([scraped.invalid, scraped.invalidForOwnProvider], [[], []]);
  // Nor the Prometheus port without the endpoint.
  const pushed = settingsFromEnvironment({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_PROMETHEUS_PORT: '70000' });
  assert.deepEqual([pushed.invalid, pushed.invalidForOwnProvider], [[], []]);
});

test('OTEL_METRIC_EXPORT_TIMEOUT=0 is no limit: the export may take the whole interval; the timeout never exceeds the interval', () => {
  const { settingsFromEnvironment } = require('../../dist/cjs/otel/index.js');
  const unlimited = settingsFromEnvironment({ OTEL_METRIC_EXPORT_TIMEOUT: '0', OTEL_METRIC_EXPORT_INTERVAL: '5000' });
  assert.deepEqual([unlimited.invalid, unlimited.invalidForOwnProvider], [[], []]);
  assert.deepEqual([unlimited.exportTimeoutMs, unlimited.exitFlushTimeoutMs], [5000, settingsFromEnvironment({}).exitFlushTimeoutMs]);
  const longer = settingsFromEnvironment({ OTEL_METRIC_EXPORT_TIMEOUT: '9000', OTEL_METRIC_EXPORT_INTERVAL: '5000' });
  assert.deepEqual([longer.exportTimeoutMs, longer.exitFlushTimeoutMs], [5000, 9000]);
  // A list of nothing but separators is no list: the default exporter.
  assert.deepEqual(settingsFromEnvironment({ OTEL_METRICS_EXPORTER: ' , ' }).exporters, ['otlp']);
});

// The OTLP exporter reads its endpoint and timeout from the environment
// itself; procmeter adds only what it gets wrong: an endpoint with spaces
// around it (which it does not trim, and so replaces by its default), and a
// request timeout that fits the export interval when none is set.
test('the OTLP exporter gets the endpoint trimmed when it has spaces around it, and a timeout within the export timeout and half the interval unless it will use a valid one of the user’s', () => {
  const { settingsFromEnvironment } = require('../../dist/cjs/otel/index.js');
  const configOf = (env) => settingsFromEnvironment(env).otlpExporterConfig;
  // The exporter's own default timeout is 10 s: kept where it fits.
  assert.deepEqual(configOf({}), { timeoutMillis: 10_000 });
  assert.deepEqual(configOf({ OTEL_METRIC_EXPORT_INTERVAL: '1000' }), { timeoutMillis: 500 });
  assert.deepEqual(configOf({ OTEL_METRIC_EXPORT_INTERVAL: '60000', OTEL_METRIC_EXPORT_TIMEOUT: '3000' }), { timeoutMillis: 3000 });
  assert.deepEqual(configOf({ OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_EXPORTER_OTLP_TIMEOUT: '20000' }), {});
  assert.deepEqual(configOf({ OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '300' }), {});
  // A timeout the exporter ignores (it takes only numbers above 0, and says
  // nothing by default) leaves it its 10 s default: procmeter's fitted one
  // stands instead, and the value is reported.
  for (const [variable, raw] of [['OTEL_EXPORTER_OTLP_TIMEOUT', '0'], ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', '5s'], ['OTEL_EXPORTER_OTLP_TIMEOUT', '-1']]) {
    const settings = settingsFromEnvironment({ OTEL_METRIC_EXPORT_INTERVAL: '1000', [variable]: raw });
    assert.deepEqual(settings.otlpExporterConfig, { timeoutMillis: 500 }, `${variable}=${raw}`);
    assert.equal(settings.invalidForOwnProvider.length, 1, `${variable}=${raw}`);
    assert.match(settings.invalidForOwnProvider[0], new RegExp(`^${variable} must be a number of milliseconds above 0 .*; got '${raw}', which it ignores$`));
  }
  // The exporter falls back from an invalid metrics timeout to a valid generic one.
  const generic = settingsFromEnvironment({ OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: 'x', OTEL_EXPORTER_OTLP_TIMEOUT: '20000' });
  assert.deepEqual([generic.otlpExporterConfig, generic.invalidForOwnProvider.length], [{}, 1]);
  // Not checked where a valid metrics timeout replaces it.
  assert.deepEqual(settingsFromEnvironment({ OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '300', OTEL_EXPORTER_OTLP_TIMEOUT: '0' }).invalidForOwnProvider, []);
  // Not checked when nothing is exported over OTLP (the variables may be the traces' concern).
  assert.deepEqual(settingsFromEnvironment({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_OTLP_TIMEOUT: '0' }).invalidForOwnProvider, []);
  const endpoint = (env) => configOf({ OTEL_EXPORTER_OTLP_TIMEOUT: '1000', ...env }).url;
  assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), undefined, 'left to the exporter');
  assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318 ' }), 'http://collector:4318/v1/metrics');
  assert.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: ' http://collector:4318/base/\t' }), 'http://collector:4318/base/v1/metrics');
  assert.equal(endpoint({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: ' http://collector:4318/custom ' }), 'http://collector:4318/custom');
  // The metrics endpoint replaces the generic one, spaces or not.
  assert.equal(endpoint({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://a:4318/m', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318 ' }), undefined);
});

test('OTEL_EXPORTER_OTLP_ENDPOINT with a space after it still exports there, not to the exporter’s default', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const app = start(APPS.cjs, { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.base} `, OTEL_METRIC_EXPORT_INTERVAL: '60000', APP_SECONDS: '0.3' });
    const { code } = await app.exited;
    assert.equal(code, 0, app.output.stderr);
    await receiver.waitFor((requests) => requests.length > 0, 5000);
    assert.equal(receiver.requests[0].path, '/v1/metrics');
    assert.ok(otlpMetrics(receiver.requests).some((m) => m.name === 'process_cpu_seconds'));
  } finally {
    await receiver.close();
  }
});

// With a 1 s interval the exporter's 10 s of retries overlapped the next
// exports, and while the collector was down there was always a request in
// flight: the finished application never exited.
test('a finished application exits while the collector is down, also with a short export interval', { timeout: 60_000 }, async () => {
  const nobodyListens = await freePort();
  const app = start(APPS.cjs, {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobodyListens}`,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    APP_SECONDS: '3',
  });
  await app.firstLine;
  const started = Date.now();
  const ended = await Promise.race([app.exited, new Promise((resolve) => setTimeout(resolve, 30_000, 'still running'))]);
  if (ended === 'still running') app.child.kill('SIGKILL');
  assert.deepEqual(ended, { code: 0, signal: null }, `after ${Date.now() - started} ms: ${app.output.stderr}`);
  // 3 s of work, an export under way (0.5 s at most), the flush at exit (2 s at most).
  assert.ok(Date.now() - started < 10_000, `the process took ${Date.now() - started} ms to end`);
});

test('an exporter asked for whose package is missing installs no SIGTERM listener when what is left only serves (Prometheus)', async () => {
  const port = await freePort();
  const hideOtlp = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === '@opentelemetry/exporter-metrics-otlp-http') throw Object.assign(new Error('hidden by the test'), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };`;
  const result = spawnSync(
    process.execPath,
    ['-e', `${hideOtlp}; require('procmeter/register'); console.log(JSON.stringify({ sigterm: process.listenerCount('SIGTERM'), beforeExit: process.listenerCount('beforeExit') }))`],
    { cwd: root, encoding: 'utf8', env: { ...process.env, OTEL_METRICS_EXPORTER: 'otlp,prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) } },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /PROCMETER_MISSING_PEER/);
  assert.equal(JSON.parse(result.stdout).sigterm, 0);
});

test('enum values are read case-insensitively, as the OpenTelemetry environment-variable specification asks', () => {
  const { settingsFromEnvironment } = require('../../dist/cjs/otel/index.js');
  const settings = settingsFromEnvironment({ OTEL_METRICS_EXPORTER: 'Prometheus, OTLP', OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/Protobuf', PROCMETER_NAMING: 'SemConv' });
  assert.deepEqual([settings.invalid, settings.invalidForOwnProvider], [[], []]);
  assert.deepEqual([settings.exporters, settings.otlpProtocol, settings.naming], [['prometheus', 'otlp'], 'http/protobuf', 'semconv']);
  assert.deepEqual(settingsFromEnvironment({ OTEL_METRICS_EXPORTER: 'NONE' }).exporters, []);
});

test('an app started with invalid settings runs, with a warning per setting, on the defaults', async () => {
  const { app, report } = await startServing(APPS.cjs, { OTEL_METRICS_EXPORTER: 'prometheus,zipkin', PROCMETER_NAMING: 'otel', APP_SECONDS: 'stdin' });
  // The default naming, prometheus.
  assert.match(await (await fetch(report.prometheusUrl)).text(), /^process_cpu_seconds_total\{/m);
  app.child.stdin.end();
  assert.equal((await app.exited).code, 0, app.output.stderr);
  const warnings = app.output.stderr.match(/\[PROCMETER_INVALID_SETTING\] Warning: procmeter\/register: [^\n]*/g) ?? [];
  assert.equal(warnings.length, 2, app.output.stderr);
  assert.match(warnings.join('\n'), /OTEL_METRICS_EXPORTER lists 'zipkin'/);
  assert.match(warnings.join('\n'), /PROCMETER_NAMING must be one of prometheus, semconv; got 'otel'/);
});

test('OTEL_RESOURCE_ATTRIBUTES entries the SDK does not take are reported; valid ones (percent-encoded keys, service.name beside OTEL_SERVICE_NAME) are not', async () => {
  const warningsWith = async (env) => {
    const { app } = await startServing(APPS.cjs, { ...env, APP_SECONDS: '0.3' });
    assert.equal((await app.exited).code, 0, app.output.stderr);
    return app.output.stderr.match(/\[PROCMETER_INVALID_SETTING\] Warning: procmeter\/register: [^\n]*/g) ?? [];
  };
  // An unencoded '=' in a value: the whole variable is left out (SDK 2.x).
  const bad = await warningsWith({ OTEL_RESOURCE_ATTRIBUTES: 'team=checkout,query=a=b' });
  assert.equal(bad.length, 1, bad.join('\n'));
  assert.match(bad[0], /OTEL_RESOURCE_ATTRIBUTES: the OpenTelemetry SDK did not take .*"query=a=b"/);
  // service.name is there anyway (from OTEL_SERVICE_NAME): the rest tells.
  assert.match((await warningsWith({ OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=x,query=a=b' })).join(), /did not take .*"query=a=b"/);
  assert.match((await warningsWith({ OTEL_RESOURCE_ATTRIBUTES: '=x' })).join(), /did not take "=x"/);
  assert.deepEqual(await warningsWith({ OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: ' team=checkout , a%2Cb=1,,service.name=x' }), []);
});

test('OTLP settings are not checked when OTLP is not exported (OTEL_EXPORTER_OTLP_PROTOCOL=grpc set for traces, say)', async () => {
  const { app } = await startServing(APPS.cjs, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317', APP_SECONDS: '0.3' });
  assert.equal((await app.exited).code, 0, app.output.stderr);
});

test('the generic OTLP endpoint is not checked when the metrics endpoint replaces it', () => {
  const { settingsFromEnvironment } = require('../../dist/cjs/otel/index.js');
  // Set for other signals, in a form only some exporters take: not procmeter's concern.
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://collector:4318/v1/metrics' };
  assert.deepEqual(settingsFromEnvironment(env), { ...settingsFromEnvironment({}), exporters: ['otlp'], invalid: [], invalidForOwnProvider: [] });
  assert.match(settingsFromEnvironment({ ...env, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: '' }).invalidForOwnProvider.join(), /OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL/);
});

test('OTEL_SDK_DISABLED=true: the zero-code start sets up nothing', async () => {
  const port = await freePort();
  const app = start(APPS.esm, { OTEL_SDK_DISABLED: 'true', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), APP_SECONDS: '0.3' });
  assert.deepEqual(JSON.parse(await app.firstLine), { prometheusUrl: null, owns: false });
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'no endpoint');
  assert.equal((await app.exited).code, 0, app.output.stderr);
});

test('OTEL_METRICS_EXPORTER=none leaves the global MeterProvider to an SDK set up later', async () => {
  const app = start(
    [
      '-r', 'procmeter/register', '-e',
      `const api = require('@opentelemetry/api');
       const { MeterProvider } = require('@opentelemetry/sdk-metrics');
       console.log(JSON.stringify({ registered: api.metrics.setGlobalMeterProvider(new MeterProvider()) }));`,
    ],
    { OTEL_METRICS_EXPORTER: 'none' },
  );
  assert.deepEqual(JSON.parse(await app.firstLine), { registered: true });
  assert.equal((await app.exited).code, 0, app.output.stderr);
});

test('at exit, a collector that does not answer holds the process up for OTEL_METRIC_EXPORT_TIMEOUT at most, not the exporter’s retries', async () => {
  const nobodyListens = await freePort();
  const app = start(APPS.cjs, {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobodyListens}`,
    OTEL_METRIC_EXPORT_TIMEOUT: '300',
    APP_SECONDS: '0.2',
  });
  await app.firstLine; // timed from here: Node's start-up varies with the machine's load
  const started = Date.now();
  const { code } = await app.exited;
  const elapsedMs = Date.now() - started;
  assert.equal(code, 0, app.output.stderr);
  // 0.2 s of work and a flush of 0.3 s at most; unbounded, the exporter's
  // retries kept the process 8 s and more.
  assert.ok(elapsedMs < 5000, `the process took ${elapsedMs} ms to end after it started`);
});

test('at exit, the bounded flush does not cut short beforeExit work of the application’s own', async () => {
  const nobodyListens = await freePort();
  const app = start(
    ['-r', 'procmeter/register', '-e', `process.once('beforeExit', () => setTimeout(() => console.log('app done'), 1000));`],
    {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobodyListens}`,
      OTEL_METRIC_EXPORT_TIMEOUT: '200',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1500', // the exporter's own give-up time
    },
  );
  const { code } = await app.exited;
  assert.equal(code, 0, app.output.stderr);
  assert.match(app.output.stdout, /app done/);
});

test('work an application starts from beforeExit, after the flush there, goes on being exported', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const app = start(
      [
        '-r',
        'procmeter/register',
        '-e',
        `let started = false;
         process.on('beforeExit', () => {
           if (started) return;
           started = true;
           console.log('second phase');
           const work = setInterval(() => {}, 50);
           setTimeout(() => { clearInterval(work); console.log('second phase done'); }, 1500);
         });`,
      ],
      {
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base,
        OTEL_METRIC_EXPORT_INTERVAL: '250',
        OTEL_METRIC_EXPORT_TIMEOUT: '200',
      },
    );
    let exportsBeforeSecondPhase;
    app.child.stdout.on('data', () => {
      // start() collects the output before this listener runs.
      if (exportsBeforeSecondPhase === undefined && app.output.stdout.includes('second phase')) exportsBeforeSecondPhase = receiver.requests.length;
    });
    const { code } = await app.exited;
    assert.equal(code, 0, app.output.stderr);
    assert.match(app.output.stdout, /second phase done/);
    // 1.5 s at one export every 250 ms: several, where a provider shut down
    // at the first beforeExit exported none.
    await receiver.waitFor((requests) => requests.length >= exportsBeforeSecondPhase + 3, 5000);
  } finally {
    await receiver.close();
  }
});

test('an open connection to the metrics endpoint does not keep a finished application alive', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const app = start(APPS.cjs, { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), APP_SECONDS: 'stdin' });
  await app.firstLine;
  // Connected and silent, as a load balancer's TCP probe or a scraper
  // between keep-alive requests: the server would keep it for 60 s and more.
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.on('error', () => {});
  try {
    app.child.stdin.end();
    const startedWaiting = Date.now();
    const { code } = await app.exited;
    assert.equal(code, 0, app.output.stderr);
    // Ended with the connection open on this side, long before the server
    // would have dropped it (headersTimeout, 60 s).
    assert.ok(Date.now() - startedWaiting < 30_000, `the app took ${Date.now() - startedWaiting} ms to end`);
  } finally {
    socket.destroy();
  }
});

test('an error on the metrics endpoint once it is up (a failed accept) does not end the application', async () => {
  const port = await freePort();
  const app = start(
    [
      '-e',
      `const http = require('node:http');
       // Keeps the server procmeter makes (unref'd, it is not among the active handles).
       const createServer = http.createServer;
       let server;
       http.createServer = (...args) => (server = createServer(...args));
       const { started } = require('procmeter/register');
       started.prometheusUrl.then(async (url) => {
         // What Node does when accept() fails on a listening server (lib/net.js):
         // unheard, the second one would end the process.
         for (let i = 0; i < 2; i++) server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
         const text = await (await fetch(url)).text();
         console.log(JSON.stringify({ url, served: /^process_cpu_seconds_total\\{/m.test(text) }));
       });`,
    ],
    { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
  );
  assert.deepEqual(JSON.parse(await app.firstLine), { url: `http://127.0.0.1:${port}/metrics`, served: true });
  assert.equal((await app.exited).code, 0, app.output.stderr);
  assert.doesNotMatch(app.output.stderr, /PROCMETER_PROMETHEUS_LISTEN/, 'a failed accept is not a failed listen');
});

test('SIGINT is left alone: it stops a busy application at once, as without procmeter', async () => {
  const port = await freePort();
  const app = start(
    ['-r', 'procmeter/register', '-e', `console.log('busy'); const end = Date.now() + 4000; while (Date.now() < end); console.log('finished');`],
    { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
  );
  assert.equal(await app.firstLine, 'busy');
  app.child.kill('SIGINT');
  const { signal } = await app.exited;
  assert.equal(signal, 'SIGINT');
  assert.doesNotMatch(app.output.stdout, /finished/, 'the busy loop was not waited for');
});

test('npm run demo: the service answers and its metrics endpoint serves the catalog', async () => {
  const port = await freePort();
  const demo = start(['demo/service.mjs'], { DEMO_PORT: '0', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), DEMO_SECONDS: '20' });
  try {
    await demo.firstLine;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const service = /service:\s+(\S+)\/work/.exec(demo.output.stdout)[1];
    const metricsUrl = /metrics:\s+(\S+)/.exec(demo.output.stdout)[1];
    assert.equal(metricsUrl, `http://127.0.0.1:${port}/metrics`);
    assert.equal((await fetch(`${service}/work`)).status, 200);
    // A scrape's GC pauses show in the histogram from the next scrape on.
    await fetch(metricsUrl);
    const text = await (await fetch(metricsUrl)).text();
    for (const name of ['process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_gc_duration_seconds_bucket', 'nodejs_active_handles_total']) {
      assert.match(text, new RegExp(`^${name}\\{`, 'm'), name);
    }
  } finally {
    demo.child.kill('SIGINT');
    const { code } = await demo.exited;
    assert.equal(code, 0, demo.output.stderr);
  }
});

test('npm run demo: with its metrics port taken it says nothing is exported; with OTLP and no collector, Ctrl-C ends it within the flush bound', async () => {
  const taken = (await import('node:net')).createServer();
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const demo = start(['demo/service.mjs'], { DEMO_PORT: '0', OTEL_EXPORTER_PROMETHEUS_PORT: String(taken.address().port), DEMO_SECONDS: '20' });
    await demo.firstLine;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(demo.output.stdout, /metrics:\s+not exported/);
    assert.match(demo.output.stderr, /PROCMETER_PROMETHEUS_LISTEN/);
    demo.child.kill('SIGINT');
    assert.equal((await demo.exited).code, 0, demo.output.stderr);
  } finally {
    taken.close();
  }

  const nobodyListens = await freePort();
  const pushing = start(['demo/service.mjs'], { DEMO_PORT: '0', OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobodyListens}`, DEMO_SECONDS: '20' });
  await pushing.firstLine;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.match(pushing.output.stdout, /metrics:\s+pushed \(OTEL_METRICS_EXPORTER=otlp\)/);
  const interrupted = Date.now();
  pushing.child.kill('SIGINT');
  assert.equal((await pushing.exited).code, 0, pushing.output.stderr);
  // The flush at exit is bounded at 2 s; unbounded, the exporter's retries took 8-10 s.
  assert.ok(Date.now() - interrupted < 5000, `Ctrl-C took ${Date.now() - interrupted} ms`);
});

test('cluster workers that preload procmeter/register do not share one endpoint: a scrape never gets another process', { timeout: 60_000 }, async (t) => {
  // The primary does not load procmeter (PM2's cluster mode, or
  // setupPrimary({ execArgv })): without an exclusive listen, both workers
  // would share the primary's socket and scrapes would alternate processes.
  const port = await freePort();
  const primary = `
    const cluster = require('node:cluster');
    const http = require('node:http');
    cluster.setupPrimary({ execArgv: ['-r', 'procmeter/register'], exec: ${JSON.stringify(`${root}test/fixtures/cluster-worker.cjs`)} });
    const reports = [];
    for (let i = 0; i < 2; i++) {
      const worker = cluster.fork({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '${port}' });
      worker.on('exit', (code) => {
        if (reports.length < 2) {
          console.error('a worker exited with ' + code + ' before reporting');
          process.exit(1);
        }
      });
      worker.on('message', async (report) => {
        reports.push(report);
        if (reports.length < 2) return;
        const pids = [];
        for (let scrape = 0; scrape < 6; scrape++) {
          const text = await new Promise((resolve, reject) =>
            http.get({ port: ${port}, host: '127.0.0.1', path: '/metrics', agent: false }, (response) => {
              let body = '';
              response.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve(body));
            }).on('error', reject));
          pids.push(Number(/process_pid="(\\d+)"/.exec(text)?.[1]));
        }
        console.log(JSON.stringify({ reports, pids }));
        for (const worker of Object.values(cluster.workers)) worker.kill();
      });
    }`;
  const child = spawn(process.execPath, ['-e', primary], { cwd: root, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, stderr);
  const { reports, pids } = JSON.parse(stdout);
  const serving = reports.filter((r) => r.url !== undefined);
  const refused = reports.filter((r) => r.url === undefined);
  assert.equal(serving.length, 1, JSON.stringify(reports));
  assert.deepEqual(serving[0].warnings, []);
  assert.match(refused[0].warnings[0], /PROCMETER_PROMETHEUS_LISTEN: .*EADDRINUSE.*give each worker its own OTEL_EXPORTER_PROMETHEUS_PORT/);
  assert.deepEqual(pids, pids.map(() => serving[0].pid), 'every scrape answered by the one worker serving the port');
});
