#!/usr/bin/env node
// `npm run bench`: every benchmark, one after another, with its default
// options (each prints its table and writes bench/results/<name>.json; their
// options differ, so pass options by running one: npm run bench:gc -- --rounds 40).
// Run them on an otherwise idle machine; the ratios inside each are measured
// side by side in one run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = [
  ['collect() against the C floor, prom-client and Node built-ins', 'collect.mjs'],
  ['GC-tracking overhead on a GC-heavy workload', 'gc-overhead.mjs'],
  ['GC-tracking overhead in instructions executed (valgrind)', 'gc-instructions.mjs'],
  ['OpenTelemetry collection cost', 'otel-collect.mjs'],
  ['Start-up cost of loading procmeter', 'startup.mjs'],
];

if (process.argv.length > 2) {
  console.error('npm run bench takes no options: run one benchmark with its own (npm run bench:collect -- --rounds 30, say).');
  process.exit(2);
}

let failed = false;
for (const [title, file] of BENCHMARKS) {
  console.log(`\n## ${title} (bench/${file})\n`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(file, import.meta.url))], { stdio: 'inherit' });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
