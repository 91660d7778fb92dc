// registerProcessMetrics() without a meterProvider, called before the
// application's OpenTelemetry SDK sets the global MeterProvider (import,
// register, sdk.start()): it waits for that provider and reports through it,
// rather than through the API's no-op one, which exports nothing for good.
// Each case runs in a child process: the global provider is process state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { runNode } from '../helpers/child.mjs';
import { freePort } from '../helpers/net.mjs';

const HELPERS = JSON.stringify(new URL('../helpers/otel.mjs', import.meta.url).href);
const PRELUDE = `
  import { registerProcessMetrics } from 'procmeter';
  import { metrics } from '@opentelemetry/api';
  import { manualProvider, pointValue } from ${HELPERS};
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const cpuSeconds = () => { const usage = process.cpuUsage(); return (usage.user + usage.system) / 1e6; };
`;

test('observable mode: an SDK set up later in the same start-up gets the metrics from its first collection', () => {
  const report = runNode(
    `${PRELUDE}
     const handle = registerProcessMetrics();
     const before = handle.reportsProcessMetrics;
     const { provider, collect } = manualProvider();
     metrics.setGlobalMeterProvider(provider); // sdk.start()
     await nextTurn();
     const cpuBefore = cpuSeconds();
     const got = await collect();
     const cpuAfter = cpuSeconds();
     const after = handle.reportsProcessMetrics;
     handle.shutdown();
     console.log(JSON.stringify({
       before, after, cpuBefore, cpuAfter, names: [...got.keys()],
       cpu: pointValue(got.get('process_cpu_seconds')),
     }));`,
  ).json();
  assert.equal(report.before, false, 'no provider yet: not reporting');
  assert.equal(report.after, true, 'reporting the process metrics once the SDK collected');
  for (const name of ['process_cpu_seconds', 'process_resident_memory_bytes', 'nodejs_gc_runs', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
    assert.ok(report.names.includes(name), `${name} exported (got ${report.names.join(', ')})`);
  }
  assert.ok(report.cpu >= report.cpuBefore - 0.01 && report.cpu <= report.cpuAfter + 0.01, `CPU ${report.cpu} outside [${report.cpuBefore}, ${report.cpuAfter}]`);
});

test('push mode: update() before the SDK goes nowhere, the first one after it reports the whole total since the process started', () => {
  const report = runNode(
    `${PRELUDE}
     const handle = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0 });
     handle.update(); // no SDK yet
     const { provider, collect } = manualProvider();
     const empty = (await collect()).size;
     metrics.setGlobalMeterProvider(provider);
     const cpuBefore = cpuSeconds();
     handle.update(); // finds the provider at once, no turn of the loop needed
     const cpuAfter = cpuSeconds();
     const first = pointValue((await collect()).get('process_cpu_seconds'));
     handle.update();
     const second = pointValue((await collect()).get('process_cpu_seconds'));
     const cpuEnd = cpuSeconds();
     handle.shutdown();
     console.log(JSON.stringify({ empty, cpuBefore, cpuAfter, first, second, cpuEnd }));`,
  ).json();
  assert.equal(report.empty, 0, 'nothing reached the SDK before it was the global provider');
  assert.ok(report.first >= report.cpuBefore - 0.01 && report.first <= report.cpuAfter + 0.01, `first export ${report.first} outside [${report.cpuBefore}, ${report.cpuAfter}]`);
  assert.ok(report.second >= report.first && report.second <= report.cpuEnd + 0.01, `second export ${report.second}: not below the first ${report.first}, not above ${report.cpuEnd}`);
});

test('an SDK set up seconds later is found by the once-a-second look, and a registration shut down before it is not', () => {
  const report = runNode(
    `${PRELUDE}
     const waiting = registerProcessMetrics({ metricGroups: ['process'] });
     const gone = registerProcessMetrics({ naming: 'semconv', metricGroups: ['process'] });
     gone.shutdown();
     await sleep(1300); // past the first look and the first tick of the poll
     const { provider, collect } = manualProvider();
     metrics.setGlobalMeterProvider(provider);
     const right = (await collect()).size; // before the next look
     await sleep(1200);
     const names = [...(await collect()).keys()];
     waiting.shutdown();
     console.log(JSON.stringify({ right, names }));`,
  ).json();
  assert.equal(report.right, 0, 'not found between two looks');
  assert.ok(report.names.includes('process_cpu_seconds'), `the waiting registration reports: ${report.names.join(', ')}`);
  assert.ok(!report.names.some((name) => name.startsWith('process.')), `the one shut down before the SDK came reports nothing: ${report.names.join(', ')}`);
});

test('a process whose SDK never comes exits on its own: the look for it keeps nothing alive', () => {
  const started = Date.now();
  const result = runNode(
    `${PRELUDE}
     registerProcessMetrics();
     registerProcessMetrics({ naming: 'semconv', mode: 'push' });
     console.log(JSON.stringify('registered'));`,
    { timeout: 20_000 },
  );
  assert.equal(result.signal, null, `the child was killed after ${Date.now() - started} ms: something kept it alive`);
  assert.equal(result.json(), 'registered');
});

test('options the SDK provider refuses when found (another mode already on it) are a warning, not an exception', () => {
  const report = runNode(
    `${PRELUDE}
     const warnings = [];
     process.on('warning', (warning) => warnings.push([warning.code, warning.message]));
     const late = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0 });
     const { provider, collect } = manualProvider();
     // Observable instruments stay on the provider after their registration
     // ends: the push registration would export every metric a second time.
     // (Only the heap group here: the CPU seconds below are the push
     // registration's alone.)
     registerProcessMetrics({ meterProvider: provider, metricGroups: ['heap'] }).shutdown();
     metrics.setGlobalMeterProvider(provider);
     await nextTurn(); // the push registration finds the provider and is refused
     await nextTurn(); // warnings are emitted on the next tick
     late.update(); // does nothing, throws nothing
     const exported = (await collect()).get('process_cpu_seconds')?.dataPoints.length ?? 0;
     const reports = late.reportsProcessMetrics;
     late.shutdown();
     console.log(JSON.stringify({ warnings, exported, reports }));`,
  ).json();
  assert.equal(report.warnings.length, 1, JSON.stringify(report.warnings));
  const [code, message] = report.warnings[0];
  assert.equal(code, 'PROCMETER_LATE_REGISTRATION_FAILED');
  assert.match(message, /options\.mode is 'push'.*'observable' instruments/);
  assert.equal(report.exported, 0, 'nothing pushed');
  assert.equal(report.reports, false);
});

test("a registration that waited for the SDK and joined another on its provider tells that one's mode and naming", () => {
  const report = runNode(
    `${PRELUDE}
     process.on('warning', () => {}); // PROCMETER_ALREADY_REGISTERED, expected
     const late = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0 });
     const asked = late.mode;
     const { provider } = manualProvider();
     metrics.setGlobalMeterProvider(provider);
     const direct = registerProcessMetrics(); // observable, on the provider at once
     await nextTurn(); // the waiting one finds the provider and joins it
     console.log(JSON.stringify({ asked, joined: late.mode, naming: late.naming, direct: direct.mode }));
     late.shutdown();
     direct.shutdown();`,
  ).json();
  assert.deepEqual(report, { asked: 'push', joined: 'observable', naming: 'prometheus', direct: 'observable' });
});

for (const mode of ['push', 'observable']) {
  test(`${mode} mode: shutdown() between the SDK's start and the next look still hands the last reading over`, () => {
  const report = runNode(
    `${PRELUDE}
     const handle = registerProcessMetrics({ mode: '${mode}', pushIntervalMs: 0 });
     await nextTurn(); // past the first look
     const { provider, collect } = manualProvider();
     metrics.setGlobalMeterProvider(provider); // an SDK started after an await
     const cpuBefore = cpuSeconds();
     handle.shutdown(); // well within a second: no look since
     const cpuAfter = cpuSeconds();
     const cpu = (await collect()).get('process_cpu_seconds');
     console.log(JSON.stringify({ cpuBefore, cpuAfter, cpu: cpu && pointValue(cpu) }));`,
  ).json();
  assert.ok(report.cpu !== null && report.cpu !== undefined, 'the last update reached the SDK');
  assert.ok(report.cpu >= report.cpuBefore - 0.01 && report.cpu <= report.cpuAfter + 0.01, `CPU ${report.cpu} outside [${report.cpuBefore}, ${report.cpuAfter}]`);
  });
}

test('two registrations waiting for the same SDK share one set of instruments: every series once, until both are shut down', () => {
  const report = runNode(
    `${PRELUDE}
     const first = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0 });
     const second = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0 });
     const { provider, collect } = manualProvider();
     metrics.setGlobalMeterProvider(provider);
     first.update();
     second.update();
     first.update();
     const cpuBefore = cpuSeconds();
     second.update();
     const cpuAfter = cpuSeconds();
     const both = (await collect()).get('process_cpu_seconds');
     first.shutdown();
     const secondStillReports = second.reportsProcessMetrics;
     second.shutdown();
     console.log(JSON.stringify({ points: both.dataPoints.length, cpu: pointValue(both), cpuBefore, cpuAfter, secondStillReports }));`,
  ).json();
  assert.equal(report.points, 1);
  // Added in four updates, it must equal the latest reading, not a sum of them.
  assert.ok(report.cpu >= report.cpuBefore - 0.01 && report.cpu <= report.cpuAfter + 0.01, `CPU ${report.cpu} outside [${report.cpuBefore}, ${report.cpuAfter}]`);
  assert.equal(report.secondStillReports, true);
});

// A real copy of the API package with an older version number: what an
// application that resolves its own, older copy registers through.
function olderApiCopy(t) {
  const olderApi = mkdtempSync(join(tmpdir(), 'procmeter-older-api-'));
  t.after(() => rmSync(olderApi, { recursive: true, force: true }));
  // Its entry point is build/src/index.js (package.json is not in its exports).
  const apiDirectory = join(dirname(createRequire(import.meta.url).resolve('@opentelemetry/api')), '..', '..');
  assert.equal(JSON.parse(readFileSync(join(apiDirectory, 'package.json'), 'utf8')).name, '@opentelemetry/api');
  cpSync(apiDirectory, olderApi, { recursive: true });
  const versionFile = join(olderApi, 'build/src/version.js');
  const source = readFileSync(versionFile, 'utf8');
  assert.match(source, /VERSION = '1\.\d+\.\d+'/, 'the version constant the API checks');
  writeFileSync(versionFile, source.replace(/VERSION = '1\.\d+\.\d+'/, "VERSION = '1.0.0'"));
  return olderApi;
}

test('a provider set through an older @opentelemetry/api, which procmeter\'s copy does not accept, is a warning, once', (t) => {
  const olderApi = olderApiCopy(t);
  const report = runNode(
    `${PRELUDE}
     import { createRequire } from 'node:module';
     const warnings = [];
     process.on('warning', (warning) => warnings.push([warning.code, warning.message]));
     const olderApi = createRequire(import.meta.url)(${JSON.stringify(olderApi)});
     const handle = registerProcessMetrics();
     const { provider, collect } = manualProvider();
     const accepted = olderApi.metrics.setGlobalMeterProvider(provider);
     const handedOut = metrics.getMeterProvider() === provider;
     await sleep(1200); // the first look and one tick of the poll
     await nextTurn();
     const exported = (await collect()).size;
     handle.shutdown();
     console.log(JSON.stringify({ accepted, handedOut, exported, warnings }));`,
  ).json();
  assert.equal(report.accepted, true, "the test's premise: the older copy registered the provider");
  assert.equal(report.handedOut, false, "the test's premise: procmeter's copy does not hand it out");
  assert.equal(report.exported, 0);
  assert.equal(report.warnings.length, 1, JSON.stringify(report.warnings));
  assert.equal(report.warnings[0][0], 'PROCMETER_PROVIDER_UNUSABLE');
  assert.match(report.warnings[0][1], /@opentelemetry\/api 1\.0\.0/);
});

// The zero-code start (exporting on a Prometheus endpoint) after the
// application registered something through an older copy of the API
// (`registerThroughOlderApi`, code run with that copy as olderApi, whose
// value is the test's premise); what it set up, what it serves, what it said.
async function zeroCodeAfterOlderApi(t, registerThroughOlderApi) {
  const olderApi = olderApiCopy(t);
  const port = await freePort();
  const report = runNode(
    `${PRELUDE}
     import { createRequire } from 'node:module';
     const warnings = [];
     process.on('warning', (warning) => warnings.push(warning.code));
     const olderApi = createRequire(import.meta.url)(${JSON.stringify(olderApi)});
     const premise = ${registerThroughOlderApi};
     const { started } = await import('procmeter/register');
     await sleep(100);
     const url = (await started.prometheusUrl) ?? null;
     const scraped = url ? await (await fetch(url)).text() : '';
     console.log(JSON.stringify({ premise, owns: started.ownsMeterProvider, url, cpu: /^process_cpu_seconds_total\\{[^}]*\\} [0-9.e+-]+$/m.test(scraped), warnings }));
     await started.shutdown();`,
    { env: { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) } },
  ).json();
  return { report, port };
}

test('the zero-code start after a provider set through an older @opentelemetry/api sets up no provider of its own and says why', async (t) => {
  const { report } = await zeroCodeAfterOlderApi(t, 'olderApi.metrics.setGlobalMeterProvider(manualProvider().provider)');
  assert.equal(report.premise, true, "the test's premise: the older copy registered the provider");
  // Its own provider could not take the global place, and would export only
  // procmeter's metrics beside the application's: none, and a warning.
  assert.deepEqual([report.owns, report.url], [false, null]);
  assert.deepEqual(report.warnings, ['PROCMETER_PROVIDER_UNUSABLE'], JSON.stringify(report.warnings));
});

test('the zero-code start after an older @opentelemetry/api took the global place with no MeterProvider (a tracing set-up) still serves procmeter’s metrics, and says the provider is not global', async (t) => {
  const { report, port } = await zeroCodeAfterOlderApi(t, 'olderApi.trace.setGlobalTracerProvider(new olderApi.ProxyTracerProvider())');
  assert.equal(report.premise, true, "the test's premise: the older copy took the global place");
  assert.deepEqual([report.owns, report.url, report.cpu], [true, `http://127.0.0.1:${port}/metrics`, true], JSON.stringify(report));
  assert.deepEqual(report.warnings, ['PROCMETER_PROVIDER_NOT_GLOBAL']);
});

test('a global provider that throws, even something that is not an Error, when procmeter registers with it is a warning, not an exception', () => {
  const report = runNode(
    `${PRELUDE}
     const warnings = [];
     process.on('warning', (warning) => warnings.push(warning.code));
     const handle = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0 });
     let calls = 0;
     // Not a MeterProvider of the SDK's: the API stores whatever it is given.
     metrics.setGlobalMeterProvider({ getMeter() { calls += 1; throw Object.create(null); } });
     handle.update(); // finds it, fails, and throws nothing
     await nextTurn();
     handle.update();
     handle.shutdown();
     await nextTurn();
     console.log(JSON.stringify({ warnings, calls }));`,
  ).json();
  assert.deepEqual(report.warnings, ['PROCMETER_LATE_REGISTRATION_FAILED']);
  assert.ok(report.calls >= 1, 'procmeter asked the provider for its meter');
});

// An instrument of the application's provider that calls back into the
// waiting handle (say, a wrapper asking for fresh values) while procmeter
// makes its instruments on that provider: the callback must not make a
// second registration, which nothing could shut down and which would record
// every GC pause again.
test('update() called back while the late registration is being made makes no second registration', () => {
  const report = runNode(
    `${PRELUDE}
     const { provider, collect } = manualProvider();
     let handle;
     let calledBack = 0;
     const calling = {
       getMeter(...args) {
         const meter = provider.getMeter(...args);
         return new Proxy(meter, {
           get(target, property) {
             const value = Reflect.get(target, property);
             if (property !== 'createCounter') return typeof value === 'function' ? value.bind(target) : value;
             return (...counterArgs) => {
               const counter = target.createCounter(...counterArgs);
               if (calledBack++ === 0) handle.update();
               return counter;
             };
           },
         });
       },
     };
     handle = registerProcessMetrics({ mode: 'push', pushIntervalMs: 0, metricGroups: ['gc'] });
     metrics.setGlobalMeterProvider(calling);
     handle.update(); // finds the provider and registers
     global.gc();
     global.gc();
     handle.update();
     const sum = (metric, value) => metric.dataPoints.reduce((total, point) => total + value(point), 0);
     const exported = await collect();
     const runs = sum(exported.get('nodejs_gc_runs'), (point) => point.value);
     const pauses = sum(exported.get('nodejs_gc_duration_seconds'), (point) => point.value.count);
     handle.shutdown(); // its last update may record a GC since the collection
     const pausesAtShutdown = sum((await collect()).get('nodejs_gc_duration_seconds'), (point) => point.value.count);
     global.gc();
     const other = manualProvider();
     const otherHandle = registerProcessMetrics({ meterProvider: other.provider, mode: 'push', pushIntervalMs: 0, metricGroups: ['gc'] });
     otherHandle.update(); // hands the pause since on to every registration still there
     const pausesAfterShutdown = sum((await collect()).get('nodejs_gc_duration_seconds'), (point) => point.value.count);
     otherHandle.shutdown();
     console.log(JSON.stringify({ calledBack: calledBack > 0, runs, pauses, pausesAtShutdown, pausesAfterShutdown }));`,
    { nodeArgs: ['--expose-gc'] },
  ).json();
  assert.equal(report.calledBack, true, 'the provider called back');
  assert.ok(report.runs >= 2, `runs ${report.runs}`);
  assert.equal(report.pauses, report.runs, 'one pause per GC run');
  assert.equal(report.pausesAfterShutdown, report.pausesAtShutdown, 'nothing recorded after shutdown()');
});
