#!/usr/bin/env node
// What loading procmeter adds to a process's start-up: whole processes that
// run an empty script, with nothing preloaded (the baseline), with
// `-r procmeter` (native addon, GC callbacks installed: what a collect()
// user pays), with procmeter's fallback, and, for scale, with prom-client
// loaded and with prom-client's collectDefaultMetrics() started.
//
// Runs are interleaved (each round runs every variant once, in a rotating
// order), so drift in machine speed hits all variants alike; reported is the
// median wall time per variant and its difference from the baseline's. Writes
// bench/results/startup.json.
//
// Options: --runs N (default 200 per variant)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { benchChildEnv, removedSettings } from './lib/child-env.mjs';
import { median } from './lib/stats.mjs';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '200' } } });
const runs = Number(args.runs);

const scratch = mkdtempSync(join(tmpdir(), 'procmeter-startup-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const emptyScript = join(scratch, 'empty.cjs');
writeFileSync(emptyScript, '');
const promClientDefaults = join(benchDir, 'gc', 'prom-client-defaults-preload.cjs');

const variants = [
  { name: 'node, empty script (baseline)', preload: [] },
  { name: 'node -r procmeter', preload: ['-r', 'procmeter'] },
  // By path: without Node resolving a package name through an exports map
  // (its ESM resolver, loaded by the first package that has one).
  { name: 'node -r <procmeter>/dist/cjs/index.js (by path)', preload: ['-r', fileURLToPath(new URL('../dist/cjs/index.js', import.meta.url))] },
  { name: 'node -r procmeter, fallback forced', preload: ['-r', 'procmeter'], env: { PROCMETER_FORCE_FALLBACK: '1' } },
  { name: 'node -r prom-client', preload: ['-r', 'prom-client'] },
  { name: 'prom-client with collectDefaultMetrics()', preload: ['-r', promClientDefaults] },
];

function runOnce(variant) {
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, [...variant.preload, emptyScript], {
    cwd: benchDir,
    env: benchChildEnv({ PROCMETER_FORCE_FALLBACK: '', ...variant.env }),
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`${variant.name} failed:\n${child.stderr}`);
  return ms;
}

for (const variant of variants) runOnce(variant); // warm the page cache
const samples = variants.map(() => []);
for (let run = 0; run < runs; run++) {
  for (let i = 0; i < variants.length; i++) {
    const index = (i + run) % variants.length;
    samples[index].push(runOnce(variants[index]));
  }
}

const baselineMs = median(samples[0]);
const rows = variants.map((variant, i) => ({ name: variant.name, medianMs: median(samples[i]), addedMs: median(samples[i]) - baselineMs }));
console.log('| variant | start-up (median) | added to the baseline |');
console.log('|---|--:|--:|');
for (const row of rows) {
  console.log(`| ${row.name} | ${row.medianMs.toFixed(1)} ms | ${row === rows[0] ? '-' : `${row.addedMs >= 0 ? '+' : ''}${row.addedMs.toFixed(1)} ms`} |`);
}
console.log(`\n${runs} runs per variant, interleaved`);
if (removedSettings().length > 0) console.log(`removed from the timed processes' environment: ${removedSettings().join(', ')}`);

mkdirSync(`${benchDir}results`, { recursive: true });
writeFileSync(
  `${benchDir}results/startup.json`,
  `${JSON.stringify({ benchmark: 'startup', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, runs, removedEnvironment: removedSettings(), rows }, null, 2)}\n`,
);
console.log('\nwritten to bench/results/startup.json');
