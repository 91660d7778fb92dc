// registerProcessMetrics() without a meterProvider, called before the
// application's OpenTelemetry SDK sets the global MeterProvider (import,
// register, sdk.start()): it waits for that provider and reports through it,
// rather than through the API's no-op one, which exports nothing for good.
// Each case runs in a child process: the global provider is process state.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runNode } from '../helpers/child.mjs';

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
     registerProcessMetrics({ meterProvider: provider }).shutdown();
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
