#!/usr/bin/env node
// `npm run bench:collect`: the collect() benchmark. For 10, 1,000 and 10,000 open
// fds, times procmeter beside the C floor (bench/floor.c, the same syscalls
// with no Node-API, in a process of its own started in every round), the
// same-work floor (bench/floor-v8.cc: those syscalls and the V8 heap
// statistics calls that collect() also makes, in a C++ loop inside the same
// Node process),
// prom-client 15's collectors and Node built-ins, all in this one run.
// Then, at the fewest fds, single calls 12 ms apart: what one call costs at
// collection intervals, with cold caches. Prints the tables and writes
// bench/results/collect.json.
//
// Options: --rounds N (default 15), --spaced-rounds N (default 100), --fds 10,1000,10000
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { C_FLOOR, SAME_WORK_FLOOR, formatNs, pairedRatio } from './lib/stats.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    'spaced-rounds': { type: 'string', default: '100' },
    fds: { type: 'string', default: '10,1000,10000' },
  },
});
const fdTargets = args.fds.split(',').map(Number);

function run(command, commandArgs) {
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', cwd: benchDir, maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

const buildDir = fileURLToPath(new URL('../build/bench/', import.meta.url));
mkdirSync(buildDir, { recursive: true });
const floorBinary = `${buildDir}floor`;
const compile = spawnSync('cc', ['-O2', '-Wall', '-pthread', '-o', floorBinary, `${benchDir}floor.c`], { encoding: 'utf8' });
if (compile.status !== 0) throw new Error(`compiling bench/floor.c failed:\n${compile.stderr}`);
// The same-work floor: C++ loops inside Node, against this Node's own
// headers (the ones node-gyp uses, never downloaded).
const nodeHeaders = fileURLToPath(new URL(`file://${process.execPath}/../../include/node/`));
const floorV8Addon = `${buildDir}floor_v8.node`;
const compileFloorV8 = spawnSync(
  'c++',
  ['-O2', '-std=c++17', '-shared', '-fPIC', '-Wall', `-I${nodeHeaders}`, '-o', floorV8Addon, `${benchDir}floor-v8.cc`],
  { encoding: 'utf8' },
);
if (compileFloorV8.status !== 0) throw new Error(`compiling bench/floor-v8.cc failed:\n${compileFloorV8.stderr}`);
const rows = [];
for (const fds of fdTargets) {
  process.stderr.write(`measuring at ${fds} open fds...\n`);
  const node = run(process.execPath, [
    'collect-child.mjs', '--fds', String(fds), '--rounds', args.rounds, '--floor', floorBinary, '--floor-v8', floorV8Addon,
  ]);
  const bytes = run(process.execPath, [
    '--expose-gc', '--max-semi-space-size=128', '--min-semi-space-size=128',
    'collect-child.mjs', '--fds', String(fds), '--bytes',
  ]);
  const timing = (name) => node.timings.find((t) => t.name === name);
  const floor = timing(C_FLOOR);
  rows.push({
    targetFds: fds,
    openFds: node.openFds,
    threads: node.threads,
    floorNsPerOp: floor.nsPerOp,
    sameWorkFloorNsPerOp: timing(SAME_WORK_FLOOR).nsPerOp,
    // Each candidate's time over the floor's, round by round (medians).
    candidates: node.timings.map((t) => ({
      name: t.name,
      nsPerOp: t.nsPerOp,
      xFloor: pairedRatio(t, floor),
      xSameWorkFloor: pairedRatio(t, timing(SAME_WORK_FLOOR)),
      bytesPerCall: t.name === C_FLOOR ? 0 : bytes.bytesPerCall[t.name],
      samples: t.samples,
    })),
  });
}

process.stderr.write(`measuring single calls 12 ms apart at ${fdTargets[0]} open fds...\n`);
const spaced = run(process.execPath, [
  'collect-child.mjs', '--fds', String(fdTargets[0]), '--spaced', '--rounds', args['spaced-rounds'], '--floor', floorBinary, '--floor-v8', floorV8Addon,
]);

const names = rows[0].candidates.map((c) => c.name);
const header = ['candidate', ...rows.flatMap((r) => [`${r.openFds} fds`, 'x floor']), 'B/call'];
const table = names.map((name) => {
  const cells = rows.flatMap((row) => {
    const c = row.candidates.find((x) => x.name === name);
    return [formatNs(c.nsPerOp), c.xFloor.toFixed(2)];
  });
  const bytes = rows[0].candidates.find((x) => x.name === name).bytesPerCall;
  return [name, ...cells, bytes === null || bytes === undefined ? 'n/a' : bytes.toFixed(0)];
});
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
for (const r of table) console.log(line(r));

const candidate = (row, prefix) => row.candidates.find((c) => c.name.startsWith(prefix));
const into = (row) => candidate(row, 'procmeter collect(into)');
const fresh = (row) => candidate(row, 'procmeter collect()');
const processPart = (row) => candidate(row, 'procmeter process part');
const syscallsInNode = (row) => candidate(row, 'the syscalls alone');
const first = rows[0];
const last = rows.at(-1);
const perRow = (value) => rows.map((r) => +value(r).toFixed(3));
// collect() also reads V8's heap statistics, work the syscall floor does not
// do: the same-work floor does both, with no Node-API or JavaScript around.
// Ratios are medians of round-by-round ratios (see pairedRatio()).
const goals = {
  'collect(into) / floor (goal <= 1.15)': perRow((r) => into(r).xFloor),
  'collect(into) / same-work floor (syscalls + V8 heap calls, in Node)': perRow((r) => into(r).xSameWorkFloor),
  'process part alone / floor (the same syscalls)': perRow((r) => processPart(r).xFloor),
  'process part alone / the syscalls alone in Node': perRow((r) => pairedRatio(processPart(r), syscallsInNode(r))),
  'collect() / floor (goal <= 1.30)': perRow((r) => fresh(r).xFloor),
  'collect() / same-work floor': perRow((r) => fresh(r).xSameWorkFloor),
  [`collect(into) at ${last.openFds} fds / at ${first.openFds} fds (goal <= 1.2)`]: +(into(last).nsPerOp / into(first).nsPerOp).toFixed(3),
  // The two rows run in processes minutes apart: the same ratio measured
  // against the same-work floor of each row's own process leaves out what
  // slowed or sped up that whole process.
  [`the same, each row against its own same-work floor`]: +(into(last).xSameWorkFloor / into(first).xSameWorkFloor).toFixed(3),
  'collect(into) bytes per call (goal 0)': into(first).bytesPerCall,
};
console.log();
for (const [goal, value] of Object.entries(goals)) console.log(`${goal}: ${JSON.stringify(value)}`);

// Spaced calls are timed one by one, each candidate after its own pause:
// ratios of medians, not round by round.
const spacedFloor = spaced.timings.find((t) => t.name === C_FLOOR).nsPerOp;
const spacedSameWork = spaced.timings.find((t) => t.name === SAME_WORK_FLOOR).nsPerOp;
console.log(`\nSingle calls ${spaced.pauseMs} ms apart (medians of ${args['spaced-rounds']}), at ${spaced.openFds} open fds:\n`);
console.log('| candidate | one call | x floor | x same-work floor |');
console.log('|---|--:|--:|--:|');
for (const t of spaced.timings) {
  console.log(`| ${t.name} | ${formatNs(t.nsPerOp)} | ${(t.nsPerOp / spacedFloor).toFixed(2)} | ${(t.nsPerOp / spacedSameWork).toFixed(2)} |`);
}

mkdirSync(`${benchDir}results`, { recursive: true });
const output = {
  benchmark: 'collect',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  rounds: Number(args.rounds),
  goals,
  rows,
  spaced: { openFds: spaced.openFds, pauseMs: spaced.pauseMs, rounds: Number(args['spaced-rounds']), timings: spaced.timings },
};
writeFileSync(`${benchDir}results/collect.json`, `${JSON.stringify(output, null, 2)}\n`);
console.log(`\nwritten to bench/results/collect.json`);
