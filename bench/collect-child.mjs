// One process of the collect() benchmark: brings the process to a target
// number of open fds, then times every candidate side by side (or, with
// --bytes, measures JS heap bytes per call; with --spaced, times single
// calls made 12 ms apart, as at collection intervals). Prints one JSON object.
//
// usage: node collect-child.mjs --fds N [--bytes | --spaced] [--rounds R] [--floor build/bench/floor]
//          [--floor-v8 build/bench/floor_v8.node]
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

import { C_FLOOR, SAME_WORK_FLOOR, measureSideBySide, measureSpaced } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const SPACED_PAUSE_MS = 12;
const { values: args } = parseArgs({
  options: {
    fds: { type: 'string' },
    bytes: { type: 'boolean' },
    spaced: { type: 'boolean' },
    rounds: { type: 'string', default: '15' },
    floor: { type: 'string' },
    'floor-v8': { type: 'string' },
  },
});

const procmeter = require('procmeter');
if (procmeter.implementation !== 'native') {
  throw new Error(`the benchmark needs the native addon: ${procmeter.loadError?.message}`);
}
const { FallbackProcessSampler } = require('../dist/cjs/fallback/index.js');
const { SLOT_COUNT } = procmeter._internals.layout;
// The Node-API-only addon: the process fields alone, the same syscalls as
// the C floor, through one N-API call.
const core = require('../build/Release/procmeter_core.node');
const coreSlots = new Float64Array(SLOT_COUNT);
// What collect(into) does before it copies the slots into the snapshot object.
const nativeSample = procmeter._internals.sampler.sample;
core.attach(coreSlots);
const promClient = require('prom-client');

function promClientProcessRegistry() {
  // The process_* collectors of prom-client's collectDefaultMetrics().
  const registry = new promClient.Registry();
  for (const name of ['processCpuTotal', 'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors']) {
    require(`prom-client/lib/metrics/${name}`)(registry, {});
  }
  return registry;
}

function promClientDefaultRegistry() {
  const registry = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: registry });
  return registry;
}

const held = [];
const target = Number(args.fds);
while (readdirSync('/proc/self/fd').length - 1 < target) held.push(openSync('/dev/null', 'r'));
const { openFds, threads } = procmeter.collect();

const into = procmeter.createSnapshot();
const fallbackSampler = new FallbackProcessSampler();
const processRegistry = promClientProcessRegistry();
const defaultRegistry = promClientDefaultRegistry();

// bench/floor.c, the C floor: a process of its own, started in every round
// between the other candidates (so that it meets the machine at the same
// speed they do), with as many open fds and threads as this process
// (getrusage sums over threads). It times its own loop.
function runFloor(calls, samples, pauseMs = 0) {
  const floorArgs = [String(openFds + 1), String(threads), String(calls), String(samples), String(pauseMs)];
  const run = spawnSync(args.floor, floorArgs, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${args.floor} ${floorArgs.join(' ')} failed:\n${run.stderr}`);
  const report = JSON.parse(run.stdout);
  if (report.openFds !== openFds) throw new Error(`the floor had ${report.openFds} open fds, this process ${openFds}`);
  return report.nsPerOp;
}
const cFloorCandidates = args.floor
  ? [{ name: C_FLOOR, time: (calls) => runFloor(calls, 1)[0], spacedOnce: (pauseMs) => runFloor(1, 1, pauseMs)[0] }]
  : [];

// bench/floor-v8.cc: C++ loops of the same work in this process, 1,000
// snapshots per call (one when calls are spaced out).
const floorV8 = args['floor-v8'] ? require(args['floor-v8']) : undefined;
const loopOps = args.spaced ? 1 : 1000;
const floorCandidates = floorV8
  ? [
      { name: SAME_WORK_FLOOR, fn: () => floorV8.sameWork(loopOps), opsPerCall: loopOps },
      { name: 'the syscalls alone (C++ loop in this process)', fn: () => floorV8.syscalls(loopOps), opsPerCall: loopOps },
      { name: 'V8 heap statistics calls alone (C++ loop)', fn: () => floorV8.heap(loopOps), opsPerCall: loopOps },
    ]
  : [];

const candidates = [
  ...cFloorCandidates,
  { name: 'procmeter collect(into)', fn: () => procmeter.collect(into) },
  { name: 'procmeter collect()', fn: () => procmeter.collect() },
  { name: 'procmeter native sample alone (slots filled, no snapshot object)', fn: () => nativeSample() },
  { name: 'procmeter process part (procmeter_core sample())', fn: () => core.sample() },
  { name: 'procmeter fallback sample', fn: () => fallbackSampler.sample() },
  ...floorCandidates,
  { name: 'prom-client process_* collectors', fn: () => processRegistry.metrics(), async: true },
  { name: 'prom-client all default metrics', fn: () => defaultRegistry.metrics(), async: true },
  { name: 'process.resourceUsage()', fn: () => process.resourceUsage() },
  { name: 'process.memoryUsage.rss()', fn: () => process.memoryUsage.rss() },
  { name: "fs.readdirSync('/proc/self/fd')", fn: () => readdirSync('/proc/self/fd').length },
];

let result;
if (args.bytes) {
  // Heap bytes per call, from used_heap_size around a run with no GC in it
  // (run with a large young generation); the harness's own cost subtracted.
  // The least of three runs: V8 now and then installs optimised code or
  // feedback (heap too) during one; a call that allocates does so in all.
  let gcs = 0;
  new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20)); // GC entries arrive late
  const bytes = {};
  const runSync = (fn, calls) => {
    for (let i = 0; i < calls; i++) fn();
  };
  const runAsync = async (fn, calls) => {
    for (let i = 0; i < calls; i++) await fn();
  };
  for (const candidate of candidates) {
    const run = (n) => (candidate.async ? runAsync(candidate.fn, n) : runSync(candidate.fn, n));
    // About 0.2 s of calls each: enough to see a byte per call, not minutes
    // for the candidates that take milliseconds at 10,000 fds.
    const probeStart = process.hrtime.bigint();
    await run(10);
    const probeNs = Number(process.hrtime.bigint() - probeStart) / 10;
    const calls = Math.max(20, Math.min(20_000, Math.round(2e8 / probeNs)));
    for (let round = 0; round < 3; round++) await run(calls); // optimise the loop itself
    const grownBy = async (n) => {
      const before = getHeapStatistics().used_heap_size;
      await run(n);
      return getHeapStatistics().used_heap_size - before;
    };
    await grownBy(0);
    const perCall = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      globalThis.gc();
      await settle();
      const gcsBefore = gcs;
      const harness = await grownBy(0);
      const grown = await grownBy(calls);
      await settle();
      if (gcs === gcsBefore) perCall.push(Math.max(0, (grown - harness) / calls));
    }
    bytes[candidate.name] = perCall.length > 0 ? Math.min(...perCall) : null;
  }
  result = { openFds, threads, bytesPerCall: bytes };
} else if (args.spaced) {
  // Reading the clock around a call costs too when the caches are cold.
  const timerAlone = { name: 'nothing: the clock read around an empty call', fn: () => undefined };
  const spaced = await measureSpaced([...candidates, timerAlone], { rounds: Number(args.rounds), pauseMs: SPACED_PAUSE_MS });
  result = { openFds, threads, pauseMs: SPACED_PAUSE_MS, timings: spaced };
} else {
  result = { openFds, threads, timings: await measureSideBySide(candidates, { rounds: Number(args.rounds) }) };
}
for (const fd of held) closeSync(fd);
console.log(JSON.stringify(result));
