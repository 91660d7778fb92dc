#!/usr/bin/env node
// The GC-tracking overhead benchmark: a GC-heavy workload (bench/gc/
// workload.cjs, --max-semi-space-size=1, about 4,700 scavenges per run) run
// as whole processes with nothing loaded (the baseline), with procmeter
// (native GC callbacks), with procmeter's GC tracking off (the cost of just
// loading it), with procmeter's fallback (PerformanceObserver), with a plain
// PerformanceObserver('gc') and with @datadog/native-metrics. GC counts per
// variant come from --trace-gc, so a variant that ran a different mix of GCs
// is visible. Each round runs every variant once, in a rotating order;
// reported are medians over rounds of wall time, CPU time and each variant's
// ratio to the baseline of the same round. Writes
// bench/results/gc-overhead.json.
//
// With --instructions N (needs valgrind), the baseline, procmeter and
// procmeter-with-tracking-off also run N times each under callgrind, which
// counts the instructions each process executed: a figure without the
// few-percent run-to-run noise of wall and CPU time on a shared machine.
//
// Options: --rounds N (default 9), --instructions N (default 0: skip)
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { median } from './lib/stats.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '9' }, instructions: { type: 'string', default: '0' } },
});
const rounds = Number(args.rounds);
const instructionRounds = Number(args.instructions);

const NODE_FLAGS = ['--max-semi-space-size=1', '--trace-gc'];
const variants = [
  { name: 'baseline: nothing loaded', preload: [] },
  { name: 'procmeter (native GC callbacks)', preload: ['-r', 'procmeter'] },
  { name: 'procmeter loaded, GC tracking off', preload: ['-r', 'procmeter'], env: { PROCMETER_GC_TRACKING: '0' } },
  { name: 'procmeter fallback (PerformanceObserver)', preload: ['-r', 'procmeter'], env: { PROCMETER_FORCE_FALLBACK: '1' } },
  { name: "PerformanceObserver('gc'), every entry", preload: ['-r', './gc/observer-preload.cjs'] },
  { name: '@datadog/native-metrics', preload: ['-r', './gc/datadog-preload.cjs'] },
];

function runOnce(variant) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [...NODE_FLAGS, ...variant.preload, './gc/workload.cjs'], {
    cwd: benchDir,
    encoding: 'utf8',
    env: { ...process.env, PROCMETER_FORCE_FALLBACK: '', ...variant.env },
  });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${variant.name} failed:\n${result.stderr}`);
  const lines = result.stdout.trim().split('\n');
  const report = JSON.parse(lines.findLast((line) => line.startsWith('{')));
  const count = (pattern) => lines.filter((line) => pattern.test(line)).length;
  return {
    wallSeconds,
    cpuSeconds: report.cpuSeconds,
    scavenges: count(/ ms: Scavenge/),
    markCompacts: count(/ ms: Mark-Compact/),
    procmeterScavenges: report.scavenges,
  };
}

runOnce(variants[0]); // warm the page cache
const samples = new Map(variants.map((v) => [v.name, []]));
for (let round = 0; round < rounds; round++) {
  process.stderr.write(`round ${round + 1}/${rounds}\n`);
  const order = variants.map((_, i) => variants[(i + round) % variants.length]);
  const results = new Map(order.map((variant) => [variant.name, runOnce(variant)]));
  const baseline = results.get(variants[0].name);
  const trackingOff = results.get(variants[2].name);
  for (const [name, r] of results) {
    samples.get(name).push({
      ...r,
      wallRatio: r.wallSeconds / baseline.wallSeconds,
      cpuRatio: r.cpuSeconds / baseline.cpuSeconds,
      wallRatioVsTrackingOff: r.wallSeconds / trackingOff.wallSeconds,
      cpuRatioVsTrackingOff: r.cpuSeconds / trackingOff.cpuSeconds,
    });
  }
}

const rows = variants.map((variant) => {
  const s = samples.get(variant.name);
  return {
    name: variant.name,
    wallSeconds: median(s.map((x) => x.wallSeconds)),
    cpuSeconds: median(s.map((x) => x.cpuSeconds)),
    wallOverhead: median(s.map((x) => x.wallRatio)) - 1,
    cpuOverhead: median(s.map((x) => x.cpuRatio)) - 1,
    wallOverheadVsTrackingOff: median(s.map((x) => x.wallRatioVsTrackingOff)) - 1,
    cpuOverheadVsTrackingOff: median(s.map((x) => x.cpuRatioVsTrackingOff)) - 1,
    scavenges: median(s.map((x) => x.scavenges)),
    markCompacts: median(s.map((x) => x.markCompacts)),
    procmeterScavenges: s.map((x) => x.procmeterScavenges).find((x) => x !== null) ?? null,
    samples: s,
  };
});

const percent = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
console.log('| variant | wall (median) | CPU (median) | wall vs baseline | CPU vs baseline | scavenges | mark-compacts |');
console.log('|---|--:|--:|--:|--:|--:|--:|');
for (const r of rows) {
  const baseline = r === rows[0];
  console.log(
    `| ${r.name} | ${r.wallSeconds.toFixed(3)} s | ${r.cpuSeconds.toFixed(3)} s | ${baseline ? '-' : percent(r.wallOverhead)} | ${baseline ? '-' : percent(r.cpuOverhead)} | ${r.scavenges} | ${r.markCompacts} |`,
  );
}
const procmeterRow = rows[1];
console.log(`\nscavenges per run counted by procmeter: ${procmeterRow.procmeterScavenges} (--trace-gc: ${procmeterRow.scavenges})`);
console.log(`procmeter overhead, loading and GC tracking (goal <= 1%): wall ${percent(procmeterRow.wallOverhead)}, CPU ${percent(procmeterRow.cpuOverhead)}`);
console.log(`procmeter GC tracking alone (vs procmeter loaded with tracking off): wall ${percent(procmeterRow.wallOverheadVsTrackingOff)}, CPU ${percent(procmeterRow.cpuOverheadVsTrackingOff)}`);
console.log(`(loading procmeter costs a fixed few ms at start-up; a baseline run lasts ${rows[0].wallSeconds.toFixed(2)} s)`);

// Instructions executed by the whole process, counted by callgrind.
function instructionsOnce(variant) {
  const result = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, ...NODE_FLAGS, ...variant.preload, './gc/workload.cjs'],
    { cwd: benchDir, encoding: 'utf8', env: { ...process.env, PROCMETER_FORCE_FALLBACK: '', ...variant.env }, maxBuffer: 1 << 26 },
  );
  const refs = /I\s+refs:\s+([\d,]+)/.exec(result.stderr ?? '');
  if (result.status !== 0 || !refs) throw new Error(`${variant.name} under callgrind failed:\n${result.error ?? result.stderr?.slice(-2000)}`);
  return Number(refs[1].replaceAll(',', ''));
}

let instructions;
if (instructionRounds > 0) {
  const counted = variants.slice(0, 3);
  const counts = new Map(counted.map((v) => [v.name, []]));
  for (let round = 0; round < instructionRounds; round++) {
    process.stderr.write(`instructions round ${round + 1}/${instructionRounds}\n`);
    for (const variant of counted) counts.get(variant.name).push(instructionsOnce(variant));
  }
  instructions = counted.map((v) => ({ name: v.name, instructions: median(counts.get(v.name)), samples: counts.get(v.name) }));
  const [base, full, off] = instructions;
  console.log('\n| variant (under callgrind) | instructions (median) | vs baseline |');
  console.log('|---|--:|--:|');
  for (const row of instructions) {
    console.log(`| ${row.name} | ${(row.instructions / 1e6).toFixed(1)} M | ${row === base ? '-' : percent(row.instructions / base.instructions - 1)} |`);
  }
  console.log(`procmeter instructions, loading and GC tracking: ${percent(full.instructions / base.instructions - 1)}; GC tracking alone: ${percent(full.instructions / off.instructions - 1)}`);
}

mkdirSync(`${benchDir}results`, { recursive: true });
writeFileSync(
  `${benchDir}results/gc-overhead.json`,
  `${JSON.stringify({ benchmark: 'gc-overhead', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, rounds, nodeFlags: NODE_FLAGS, rows, instructions }, null, 2)}\n`,
);
console.log('\nwritten to bench/results/gc-overhead.json');
