#!/usr/bin/env node
// `npm test`: the behaviour suites under test/snapshot and test/runtime run
// once against the native addon and once against the JavaScript fallback
// (same tests, same expectations); the other suites run once. Arguments
// filter test files by path, e.g. `npm test -- otel/push`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const testDir = fileURLToPath(new URL('../test/', import.meta.url));

function testFiles(...dirs) {
  return dirs.flatMap((dir) =>
    readdirSync(join(testDir, dir))
      .filter((name) => name.endsWith('.test.mjs'))
      .sort()
      .map((name) => join(testDir, dir, name)),
  );
}

const runs = [
  { label: 'behaviour, native', files: testFiles('snapshot', 'runtime'), env: { PROCMETER_TEST_IMPLEMENTATION: 'native' } },
  {
    label: 'behaviour, fallback',
    files: testFiles('snapshot', 'runtime'),
    env: { PROCMETER_TEST_IMPLEMENTATION: 'fallback', PROCMETER_FORCE_FALLBACK: '1' },
  },
  { label: 'loading, consistency, native units', files: testFiles('loading', 'consistency', 'native'), env: {} },
  { label: 'OpenTelemetry layer and end to end', files: testFiles('otel', 'e2e'), env: {} },
];

const only = process.argv.slice(2);
let failed = false;
let filesRun = 0;
for (const run of runs) {
  const files = only.length ? run.files.filter((file) => only.some((part) => file.includes(part))) : run.files;
  if (files.length === 0 && only.length === 0) {
    console.error(`no test files for ${run.label}: were they moved or renamed (*.test.mjs)?`);
    failed = true;
  }
  if (files.length === 0) continue;
  filesRun += files.length;
  console.log(`\n# ${run.label}`);
  const result = spawnSync(process.execPath, ['--test', ...files], {
    stdio: 'inherit',
    env: { ...process.env, PROCMETER_FORCE_FALLBACK: '', ...run.env },
  });
  if (result.status !== 0) failed = true;
}
// A filter that matches nothing (a typo) is no passing run.
if (filesRun === 0) {
  console.error(`no test file matches ${only.map((part) => JSON.stringify(part)).join(', ')}`);
  failed = true;
}
process.exit(failed ? 1 : 0);
