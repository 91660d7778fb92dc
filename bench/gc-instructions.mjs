#!/usr/bin/env node
// The GC-tracking overhead in instructions executed: the variants of
// bench/gc/variants.mjs (the GC-heavy workload with nothing loaded, with
// procmeter, with its GC tracking off, and the peers) each run once under
// valgrind's cachegrind, which counts every instruction the process executes.
//
// Timing on the development VM moved by several percent between runs the
// same hour (bench/gc-overhead.mjs), more than the 1% goal; an instruction
// count does not depend on what else the machine does. Node runs with
// --single-threaded and fixed hash and random seeds, and address-space
// randomization off (setarch -R), so that a run repeats its count to within
// about 0.01%: the baseline runs twice to show it. Instructions are not
// time (a cache miss or a system call costs more than one), so this is the
// CPU work each variant adds, next to the timed benchmark, not instead of it.
//
// Needs valgrind and setarch (Debian: valgrind, util-linux). Each run takes
// about 40 s; two run at a time. Writes bench/results/gc-instructions.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

import { BASELINE, PEERS, PROCMETER, TRACKING_OFF, WORKLOAD, WORKLOAD_FLAGS, gcCounts } from './gc/variants.mjs';
import { benchChildEnv } from './lib/child-env.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
for (const tool of ['valgrind', 'setarch']) {
  if (spawnSync(tool, ['--version']).error) {
    console.error(`bench/gc-instructions.mjs needs ${tool} (Debian: apt-get install valgrind util-linux)`);
    process.exit(1);
  }
}
const DETERMINISM_FLAGS = ['--single-threaded', '--hash-seed=42', '--random-seed=42'];
const VALGRIND = ['setarch', '-R', 'valgrind', '--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null'];

const runs = [
  BASELINE,
  { ...BASELINE, name: 'baseline, second run (repeatability)' },
  PROCMETER,
  TRACKING_OFF,
  ...PEERS,
  { ...PROCMETER, name: 'procmeter, inside its GC callbacks only (callgrind)', callbacksOnly: true },
];

// The GC callbacks' own instructions, counted inside them by callgrind
// (--toggle-collect), in the procmeter run: exact, where the difference of
// two whole runs also holds what loading with another environment changes.
// Needs the callbacks' symbols, which a local build has and the stripped
// prebuilds do not.
const CALLBACKS = '*GcTracker*On*logue*';
const CALLGRIND = ['setarch', '-R', 'valgrind', '--tool=callgrind', '--callgrind-out-file=/dev/null', `--toggle-collect=${CALLBACKS}`];

function countInstructions(variant, { callbacksOnly = false } = {}) {
  const tool = callbacksOnly ? CALLGRIND : VALGRIND;
  const command = [...tool, process.execPath, ...DETERMINISM_FLAGS, ...WORKLOAD_FLAGS, ...variant.preload, WORKLOAD];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), {
      cwd: benchDir,
      env: benchChildEnv({ PROCMETER_FORCE_FALLBACK: '', ...variant.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      const refs = (callbacksOnly ? /Collected\s*:\s*(\d+)/ : /I\s+refs:\s+([\d,]+)/).exec(stderr);
      if (status !== 0 || refs === null) return reject(new Error(`${variant.name} failed (status ${status}):\n${stderr.slice(-2000)}`));
      resolve({ name: variant.name, instructions: Number(refs[1].replaceAll(',', '')), ...gcCounts(stdout.split('\n')) });
    });
  });
}

// Two at a time: the counts do not depend on it, the waiting does.
const results = new Array(runs.length);
let next = 0;
async function worker() {
  while (next < runs.length) {
    const index = next++;
    process.stderr.write(`running ${runs[index].name}\n`);
    results[index] = await countInstructions(runs[index], { callbacksOnly: runs[index].callbacksOnly === true });
  }
}
await Promise.all(Array.from({ length: Math.min(2, cpus().length) }, worker));

const callbacks = results.pop();
const baseline = results[0].instructions;
const percent = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
const rows = results.map((r) => ({ ...r, added: r.instructions - baseline, overhead: r.instructions / baseline - 1 }));
console.log('| variant | instructions | added | vs baseline | scavenges | mark-compacts |');
console.log('|---|--:|--:|--:|--:|--:|');
for (const r of rows) {
  const first = r === rows[0];
  console.log(
    `| ${r.name} | ${(r.instructions / 1e6).toFixed(1)} M | ${first ? '-' : `${(r.added / 1e6).toFixed(1)} M`} | ${first ? '-' : percent(r.overhead)} | ${r.scavenges} | ${r.markCompacts} |`,
  );
}
const byName = new Map(rows.map((r) => [r.name, r]));
const procmeter = byName.get(PROCMETER.name);
const trackingOff = byName.get(TRACKING_OFF.name);
const trackingPerGc = (procmeter.instructions - trackingOff.instructions) / Math.max(1, procmeter.scavenges + procmeter.markCompacts);
console.log(`\nprocmeter, loading and GC tracking (goal <= 1%): ${percent(procmeter.overhead)} of the instructions`);
console.log(`of which GC tracking: ${((procmeter.instructions - trackingOff.instructions) / 1e6).toFixed(1)} M, about ${Math.round(trackingPerGc)} instructions per GC`);
const gcs = Math.max(1, callbacks.scavenges + callbacks.markCompacts);
const callbackInstructionsPerGc = callbacks.instructions > 0 ? callbacks.instructions / gcs : null;
console.log(
  callbackInstructionsPerGc === null
    ? 'inside the GC callbacks: not counted (the binary loaded has no symbols: a stripped prebuild rather than a local build)'
    : `inside the GC callbacks (callgrind): ${(callbacks.instructions / 1e6).toFixed(2)} M, ${Math.round(callbackInstructionsPerGc)} instructions per GC`,
);
console.log(`repeatability: the baseline's second run differs by ${percent(rows[1].overhead)}`);

mkdirSync(`${benchDir}results`, { recursive: true });
writeFileSync(
  `${benchDir}results/gc-instructions.json`,
  `${JSON.stringify({ benchmark: 'gc-instructions', date: new Date().toISOString(), node: process.version, nodeFlags: [...DETERMINISM_FLAGS, ...WORKLOAD_FLAGS], rows, trackingInstructionsPerGc: trackingPerGc, callbackInstructions: callbacks.instructions, callbackInstructionsPerGc }, null, 2)}\n`,
);
console.log('\nwritten to bench/results/gc-instructions.json');
