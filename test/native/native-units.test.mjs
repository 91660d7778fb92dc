// Builds test/native/unit_test.cc with the sampler's sources under ASan and
// UBSan, and runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('native sampler internals (parsers, fd scan, fork, EMFILE)', () => {
  mkdirSync(`${root}build/test`, { recursive: true });
  const binary = `${root}build/test/native_unit_test`;
  const compile = spawnSync(
    'g++',
    [
      '-std=c++17', '-fno-exceptions', '-Wall', '-Wextra', '-Werror', '-g', '-O1',
      '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
      `-I${root}native`,
      `${root}test/native/unit_test.cc`,
      `${root}native/fork_watch.cc`,
      `${root}native/procfs_parse.cc`,
      `${root}native/proc_directory.cc`,
      `${root}native/process_sampler.cc`,
      '-pthread', '-o', binary,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(compile.status, 0, compile.stderr);
  const run = spawnSync(binary, [], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /native unit tests passed/);
});
