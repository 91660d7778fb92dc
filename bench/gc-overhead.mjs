#!/usr/bin/env node
// The GC-tracking overhead benchmark: a GC-heavy workload (bench/gc/
// workload.cjs, --max-semi-space-size=1, about 4,700 scavenges per run) run
// as whole processes, in the variants of bench/gc/variants.mjs (nothing
// loaded, procmeter, procmeter with GC tracking off, the fallback, a plain
// PerformanceObserver('gc'), @datadog/native-metrics). GC counts per
// variant come from --trace-gc, so a variant that ran a different mix of GCs
// is visible. (bench/gc-instructions.mjs counts the instructions the same
// variants execute, which this VM's timing noise does not touch.)
//
// Each variant runs at the same time as a baseline run, one process on each
// of two CPUs (taskset), and is compared with that baseline: whatever slows
// the machine during the pair (other guests, clock changes) slows both
// alike, where runs one after the other differed by up to 17% on this VM.
// Which CPU each side gets and which of the two is started first both
// rotate over every 4 rounds, and each ratio is the geometric mean of such
// a group: here one CPU ran the same process 2-4% faster than the other, and
// the process started second ran about 0.8% faster. An A/A pair (the
// baseline beside itself) shows what is left of the noise. Each round runs
// every pair once, in a rotating order; reported are medians of wall time
// and CPU time over runs, and of each variant's ratio to its pair's
// baseline over groups of rounds. (With one CPU, or no taskset, each pair
// runs one after the other.) Writes bench/results/gc-overhead.json.
//
// Options: --rounds N (default 20, rounded up to a multiple of 4: medians
// over 5 groups)
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { BASELINE, PEERS, PROCMETER, TRACKING_OFF, WORKLOAD, WORKLOAD_FLAGS, gcCounts } from './gc/variants.mjs';
import { benchChildEnv, removedSettings } from './lib/child-env.mjs';
import { median } from './lib/stats.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '20' } },
});
const ROUND_GROUP = 4; // every combination of CPU and start order
const rounds = Math.ceil(Number(args.rounds) / ROUND_GROUP) * ROUND_GROUP;

const variants = [BASELINE, { name: 'baseline beside itself (A/A control)', preload: [] }, PROCMETER, TRACKING_OFF, ...PEERS];

const outputDir = mkdtempSync(join(tmpdir(), 'procmeter-gc-bench-'));
process.on('exit', () => rmSync(outputDir, { recursive: true, force: true }));
const concurrent = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

// stdout (4,700 lines of --trace-gc) goes to a file, not a pipe: reading a
// pipe would keep this process busy on the CPUs the pair is timed on.
let runs = 0;
function runOnce(variant, cpu) {
  const command = [process.execPath, ...WORKLOAD_FLAGS, ...variant.preload, WORKLOAD];
  if (concurrent) command.unshift('taskset', '-c', String(cpu));
  const outputFile = join(outputDir, `run-${runs++}.txt`);
  const output = openSync(outputFile, 'w');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command[0], command.slice(1), {
      cwd: benchDir,
      env: benchChildEnv({ PROCMETER_FORCE_FALLBACK: '', ...variant.env }),
      stdio: ['ignore', output, 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      closeSync(output);
      const lines = readFileSync(outputFile, 'utf8').trim().split('\n');
      rmSync(outputFile);
      if (status !== 0) return reject(new Error(`${variant.name} failed:\n${stderr}`));
      const report = JSON.parse(lines.findLast((line) => line.startsWith('{')));
      resolve({ wallSeconds, cpuSeconds: report.cpuSeconds, ...gcCounts(lines), procmeterScavenges: report.scavenges });
    });
  });
}

// The variant beside a baseline run, each on its own CPU.
async function runPair(variant, round) {
  const [baselineCpu, variantCpu] = round % 2 === 0 ? [0, 1] : [1, 0];
  const variantFirst = Math.floor(round / 2) % 2 === 1;
  const runBaseline = () => runOnce(BASELINE, baselineCpu);
  const runVariant = () => runOnce(variant, variantCpu);
  const [first, second] = variantFirst ? [runVariant, runBaseline] : [runBaseline, runVariant];
  const [a, b] = concurrent ? await Promise.all([first(), second()]) : [await first(), await second()];
  return variantFirst ? { result: a, baseline: b } : { baseline: a, result: b };
}

await runOnce(BASELINE, 0); // warm the page cache
const compared = variants.filter((variant) => variant !== BASELINE);
const samples = new Map(variants.map((v) => [v.name, []]));
for (let round = 0; round < rounds; round++) {
  process.stderr.write(`round ${round + 1}/${rounds}\n`);
  const order = compared.map((_, i) => compared[(i + round) % compared.length]);
  const pairs = new Map();
  for (const variant of order) pairs.set(variant.name, await runPair(variant, round));
  const off = pairs.get(TRACKING_OFF.name);
  const offWall = off.result.wallSeconds / off.baseline.wallSeconds;
  const offCpu = off.result.cpuSeconds / off.baseline.cpuSeconds;
  for (const [name, { baseline, result }] of pairs) {
    samples.get(BASELINE.name).push({ ...baseline, wallRatio: 1, cpuRatio: 1, wallRatioVsTrackingOff: NaN, cpuRatioVsTrackingOff: NaN });
    const wallRatio = result.wallSeconds / baseline.wallSeconds;
    const cpuRatio = result.cpuSeconds / baseline.cpuSeconds;
    samples.get(name).push({ ...result, wallRatio, cpuRatio, wallRatioVsTrackingOff: wallRatio / offWall, cpuRatioVsTrackingOff: cpuRatio / offCpu });
  }
}

// Median over groups of 4 rounds (each CPU and start order once) of the
// geometric mean of the group's ratios.
function pairedOverhead(s, key) {
  const perGroup = [];
  for (let i = 0; i + ROUND_GROUP <= s.length; i += ROUND_GROUP) {
    perGroup.push(Math.exp(s.slice(i, i + ROUND_GROUP).reduce((sum, x) => sum + Math.log(x[key]), 0) / ROUND_GROUP));
  }
  return median(perGroup) - 1;
}

const rows = variants.map((variant) => {
  const s = samples.get(variant.name);
  return {
    name: variant.name,
    wallSeconds: median(s.map((x) => x.wallSeconds)),
    cpuSeconds: median(s.map((x) => x.cpuSeconds)),
    wallOverhead: pairedOverhead(s, 'wallRatio'),
    cpuOverhead: pairedOverhead(s, 'cpuRatio'),
    wallOverheadVsTrackingOff: pairedOverhead(s, 'wallRatioVsTrackingOff'),
    cpuOverheadVsTrackingOff: pairedOverhead(s, 'cpuRatioVsTrackingOff'),
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
const procmeterRow = rows.find((row) => row.name === PROCMETER.name);
console.log(`\nscavenges per run counted by procmeter: ${procmeterRow.procmeterScavenges} (--trace-gc: ${procmeterRow.scavenges})`);
console.log(`procmeter overhead, loading and GC tracking (goal <= 1%): wall ${percent(procmeterRow.wallOverhead)}, CPU ${percent(procmeterRow.cpuOverhead)}`);
console.log(`procmeter GC tracking alone (vs procmeter loaded with tracking off): wall ${percent(procmeterRow.wallOverheadVsTrackingOff)}, CPU ${percent(procmeterRow.cpuOverheadVsTrackingOff)}`);
console.log(`(loading procmeter costs a fixed few ms at start-up; a baseline run lasts ${rows[0].wallSeconds.toFixed(2)} s)`);
console.log(`pairs ran ${concurrent ? 'at the same time, one per CPU' : 'one after the other (one CPU or no taskset)'}`);
if (removedSettings().length > 0) console.log(`removed from the timed processes' environment: ${removedSettings().join(', ')}`);

mkdirSync(`${benchDir}results`, { recursive: true });
writeFileSync(
  `${benchDir}results/gc-overhead.json`,
  `${JSON.stringify({ benchmark: 'gc-overhead', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, rounds, concurrentPairs: concurrent, nodeFlags: WORKLOAD_FLAGS, removedEnvironment: removedSettings(), rows }, null, 2)}\n`,
);
console.log('\nwritten to bench/results/gc-overhead.json');
