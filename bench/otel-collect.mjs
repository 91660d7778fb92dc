#!/usr/bin/env node
// The OpenTelemetry collection benchmark: one reader.collect() of procmeter's
// full instrument set beside the same SDK collecting (a) an equal number of
// trivial observable gauges, one point each, and (b) a mirror of procmeter's
// instruments: the same kinds and the same attribute sets, observing
// constants, so that the difference is exactly what procmeter adds (reading
// the process, V8 and the event-loop histogram), (c) as many trivial
// gauges as procmeter exports data points, and (d) the mirror with a
// collect(into) in its callback whose result it does not use; also prom-client 15's
// register.metrics() with its default metrics, @opentelemetry/host-metrics,
// the cost of update() in push mode, and procmeter's own part of a
// collection (its batch callback with an observe() that does nothing, and
// the collect(into) inside it). All in one process, measured side
// by side in rounds. Writes bench/results/otel-collect.json.
//
// Options: --rounds N (default 45)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { HostMetrics } from '@opentelemetry/host-metrics';
import promClient from 'prom-client';

import { collect, createSnapshot, registerProcessMetrics, implementation, gcImplementation } from 'procmeter';
import { formatNs, measureSideBySide, median, pairedRatio } from './lib/stats.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '45' } } });
const SPACED_COLLECTIONS = 100;

class ManualReader extends MetricReader {
  onForceFlush() {
    return Promise.resolve();
  }
  onShutdown() {
    return Promise.resolve();
  }
}

function providerWithReader() {
  const reader = new ManualReader();
  return { reader, provider: new MeterProvider({ readers: [reader] }) };
}

// procmeter, observable mode (the default), prometheus naming.
const procmeter = providerWithReader();
registerProcessMetrics({ meterProvider: procmeter.provider });
await new Promise((resolve) => setTimeout(resolve, 100));
const procmeterMetrics = (await procmeter.reader.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
const procmeterShape = {
  instruments: procmeterMetrics.length,
  points: procmeterMetrics.reduce((n, m) => n + m.dataPoints.length, 0),
};

// (b) The mirror: procmeter's asynchronous instruments, kinds and attribute
// sets, with constant values. (Its one histogram is synchronous and fed by
// GC pauses; in the mirror it gets one recording per collection for each
// of its attribute sets, the GC kinds procmeter's had points for.) With
// `snapshot`, its callback also takes a collect(into) it does not use: the
// system calls of a snapshot slow down the SDK work after them too (on this
// VM each one empties the TLB), which the difference from the plain mirror
// shows beside collect(into)'s own time.
function mirror(snapshot) {
  const { reader, provider } = providerWithReader();
  const meter = provider.getMeter('mirror');
  const observed = [];
  let histogram;
  let histogramAttributeSets = [];
  for (const metric of procmeterMetrics) {
    const options = { unit: metric.descriptor.unit, description: metric.descriptor.description, valueType: metric.descriptor.valueType };
    if (metric.dataPointType === DataPointType.HISTOGRAM) {
      histogram = meter.createHistogram(metric.descriptor.name, { ...options, advice: metric.descriptor.advice });
      histogramAttributeSets = metric.dataPoints.map((point) => point.attributes);
      continue;
    }
    const instrument =
      metric.dataPointType === DataPointType.GAUGE
        ? meter.createObservableGauge(metric.descriptor.name, options)
        : metric.isMonotonic
          ? meter.createObservableCounter(metric.descriptor.name, options)
          : meter.createObservableUpDownCounter(metric.descriptor.name, options);
    observed.push([instrument, metric.dataPoints.map((point) => point.attributes)]);
  }
  meter.addBatchObservableCallback(
    (result) => {
      for (const [instrument, attributeSets] of observed) for (const attributes of attributeSets) result.observe(instrument, 42, attributes);
      for (const attributes of histogramAttributeSets) histogram.record(0.001, attributes);
      if (snapshot) collect(snapshot);
    },
    observed.map(([instrument]) => instrument),
  );
  return reader;
}
const mirrorReader = mirror();
const mirrorWithSnapshot = mirror(createSnapshot());

// The same SDK with trivial observable gauges in one batch callback.
function trivialGauges(instruments, pointsPerInstrument) {
  const { reader, provider } = providerWithReader();
  const meter = provider.getMeter('baseline');
  const gauges = Array.from({ length: instruments }, (_, i) => meter.createObservableGauge(`baseline_gauge_${i}`));
  const attributes = Array.from({ length: pointsPerInstrument }, (_, i) => ({ n: String(i) }));
  meter.addBatchObservableCallback((result) => {
    for (const gauge of gauges) for (const a of attributes) result.observe(gauge, 42, a);
  }, gauges);
  return reader;
}
const sameInstruments = trivialGauges(procmeterShape.instruments, 1);
// As many one-point gauges as procmeter exports data points (series).
const samePoints = trivialGauges(procmeterShape.points, 1);

// procmeter's own part of a collection: its batch callback, on a
// registration of its own, called with an observe() that does nothing (the
// meter handed to procmeter passes everything through and keeps the
// callback), so the SDK's work on the observations is left out.
function procmeterCallbackAlone() {
  const { provider } = providerWithReader();
  let callback;
  const keepingCallback = {
    getMeter(...args) {
      return new Proxy(provider.getMeter(...args), {
        get(meter, key) {
          if (key === 'addBatchObservableCallback') {
            return (batchCallback, observables) => {
              callback = batchCallback;
              meter.addBatchObservableCallback(batchCallback, observables);
            };
          }
          const value = meter[key];
          return typeof value === 'function' ? value.bind(meter) : value;
        },
      });
    },
  };
  registerProcessMetrics({ meterProvider: keepingCallback });
  let observations = 0;
  const ignoring = { observe: () => void (observations += 1) };
  callback(ignoring);
  if (observations < procmeterShape.points - procmeterShape.instruments) {
    throw new Error(`procmeter's callback observed ${observations} values, fewer than its series: not the whole reading`);
  }
  return () => callback(ignoring);
}
const callbackAlone = procmeterCallbackAlone();
const snapshot = createSnapshot();

const push = providerWithReader();
const pushHandle = registerProcessMetrics({ meterProvider: push.provider, mode: 'push', pushIntervalMs: 0 });

await new Promise((resolve) => setTimeout(resolve, 200));
// First the OpenTelemetry SDK group, side by side; then the peers (whose
// garbage would otherwise land in procmeter's GC histogram mid-measurement).
const candidates = [
  { key: 'procmeter', name: `procmeter reader.collect() (${procmeterShape.instruments} instruments, ${procmeterShape.points} points)`, fn: () => procmeter.reader.collect(), async: true },
  { key: 'sameInstruments', name: `SDK, ${procmeterShape.instruments} trivial observable gauges`, fn: () => sameInstruments.collect(), async: true },
  { key: 'mirror', name: `SDK, mirror of procmeter's instruments and points, constant values`, fn: () => mirrorReader.collect(), async: true },
  { key: 'samePoints', name: `SDK, ${procmeterShape.points} trivial observable gauges (one per procmeter data point)`, fn: () => samePoints.collect(), async: true },
  { key: 'mirrorWithSnapshot', name: 'SDK, the mirror plus an unused collect(into) in its callback', fn: () => mirrorWithSnapshot.collect(), async: true },
  { key: 'push', name: 'procmeter push-mode update()', fn: () => pushHandle.update() },
  { key: 'ownReading', name: "procmeter's own reading: its batch callback, observe() a no-op", fn: callbackAlone },
  { key: 'collectInto', name: 'of which collect(into)', fn: () => collect(snapshot) },
];
const results = await measureSideBySide(candidates, { rounds: Number(args.rounds), targetSampleMs: 40 });

// Collections back to back mostly find the event-loop delay histogram
// empty (it gets a sample every 10 ms) and the caches warm. A service
// collects every 15-60 s: there the histogram has samples to read and the
// caches are cold. Collections 12 ms apart, procmeter and the mirror in
// turn, timed one by one, show that case.
// The goal's baseline, the trivial gauges, takes its turn too.
const spacedReaders = [
  ['procmeter', procmeter.reader],
  ['mirror', mirrorReader],
  ['sameInstruments', sameInstruments],
];
const spaced = Object.fromEntries(spacedReaders.map(([name]) => [name, []]));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
for (let i = 0; i < spacedReaders.length * SPACED_COLLECTIONS; i++) {
  const [name, reader] = spacedReaders[i % spacedReaders.length];
  await sleep(12);
  const started = process.hrtime.bigint();
  await reader.collect();
  spaced[name].push(Number(process.hrtime.bigint() - started));
}
const spacedNs = Object.fromEntries(Object.entries(spaced).map(([name, samples]) => [name, median(samples)]));
// Turn by turn (each procmeter collection against the next of the other).
const spacedRatio = (name) => median(spaced.procmeter.map((ns, i) => ns / spaced[name][i]));

const promRegistry = new promClient.Registry();
promClient.collectDefaultMetrics({ register: promRegistry });
const host = providerWithReader();
new HostMetrics({ meterProvider: host.provider, name: 'host-metrics' }).start();
await new Promise((resolve) => setTimeout(resolve, 200));
const peers = [
  { name: 'prom-client 15 register.metrics() (default metrics)', fn: () => promRegistry.metrics(), async: true },
  { name: '@opentelemetry/host-metrics reader.collect()', fn: () => host.reader.collect(), async: true },
];
results.push(...(await measureSideBySide(peers, { rounds: Math.ceil(Number(args.rounds) / 2), targetSampleMs: 40 })));

const nsOf = Object.fromEntries(candidates.map((c) => [c.key, results.find((r) => r.name === c.name).nsPerOp]));
console.log(`procmeter: ${implementation} sampler, ${gcImplementation} GC/heap\n`);
console.log('| candidate | time per call | vs procmeter |');
console.log('|---|--:|--:|');
for (const r of results) console.log(`| ${r.name} | ${formatNs(r.nsPerOp)} | ${(r.nsPerOp / nsOf.procmeter).toFixed(2)}x |`);
// Medians of the round-by-round ratios, as in the collect() benchmark.
const timingOf = (key) => results.find((r) => r.name === candidates.find((c) => c.key === key).name);
const ratioTo = (key) => pairedRatio(timingOf('procmeter'), timingOf(key));
const ratioInstruments = ratioTo('sameInstruments');
const ratioMirror = ratioTo('mirror');
const ratioPoints = ratioTo('samePoints');
// Round by round too: the two mirrors' difference within each round.
const snapshotInMirrorNs = median(timingOf('mirrorWithSnapshot').samples.map((ns, round) => ns - timingOf('mirror').samples[round]));
console.log(`\nprocmeter / equal number of trivial gauges (goal <= 1.3): ${ratioInstruments.toFixed(2)}`);
console.log(`procmeter / as many trivial gauges as it exports data points: ${ratioPoints.toFixed(2)}`);
console.log(`procmeter / the same instruments and points with constant values: ${ratioMirror.toFixed(2)}`);
console.log(`what procmeter adds to a collection: ${formatNs(nsOf.procmeter - nsOf.mirror)}`);
console.log(`of which its own reading (the callback without the SDK's observe()): ${formatNs(nsOf.ownReading)}`);
console.log(
  `an unused collect(into) in the mirror's callback adds ${formatNs(snapshotInMirrorNs)} (collect(into) alone: ${formatNs(nsOf.collectInto)}); ` +
    `procmeter beyond that: ${formatNs(nsOf.procmeter - nsOf.mirrorWithSnapshot)}`,
);
console.log(
  `\ncollections 12 ms apart (event-loop histogram with samples, caches cold), medians of ${SPACED_COLLECTIONS}: ` +
    `procmeter ${formatNs(spacedNs.procmeter)}, mirror ${formatNs(spacedNs.mirror)}, ${procmeterShape.instruments} trivial gauges ${formatNs(spacedNs.sameInstruments)}; ` +
    `procmeter adds ${formatNs(spacedNs.procmeter - spacedNs.mirror)} to the mirror; ` +
    `procmeter / trivial gauges ${spacedRatio('sameInstruments').toFixed(2)}, / mirror ${spacedRatio('mirror').toFixed(2)}`,
);

mkdirSync(`${benchDir}results`, { recursive: true });
writeFileSync(
  `${benchDir}results/otel-collect.json`,
  `${JSON.stringify({ benchmark: 'otel-collect', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, rounds: Number(args.rounds), procmeterShape, ratioInstruments, ratioPoints, ratioMirror, snapshotInMirrorNs, spacedNs, spacedRatioInstruments: spacedRatio('sameInstruments'), spacedRatioMirror: spacedRatio('mirror'), results }, null, 2)}\n`,
);
console.log('\nwritten to bench/results/otel-collect.json');
pushHandle.shutdown();
process.exit(0);
