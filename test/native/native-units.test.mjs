// Builds test/native/unit_test.cc with the sampler's sources under ASan and
// UBSan, and runs it; and the fork watch's own test natively and, for arm64,
// under qemu-user (an emulator that must not fool it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const STRICT = ['-std=c++17', '-fno-exceptions', '-Wall', '-Wextra', '-Werror'];
const SANITIZED = ['-g', '-O1', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];

function compile(compiler, flags, sources, binary) {
  mkdirSync(`${root}build/test`, { recursive: true });
  const run = spawnSync(compiler, [...STRICT, ...flags, `-I${root}native`, ...sources.map((s) => `${root}${s}`), '-pthread', '-o', binary], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `${compiler}: ${run.error ?? run.stderr}`);
}

function runPassing(command, args, expected) {
  const run = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, expected);
  return run.stdout;
}

test('native sampler internals (parsers, fd scan, fork watch, fork, EMFILE, claim)', (t) => {
  const binary = `${root}build/test/native_unit_test`;
  compile(
    'g++',
    SANITIZED,
    [
      'test/native/unit_test.cc',
      'native/fork_watch.cc',
      'native/procfs_parse.cc',
      'native/proc_directory.cc',
      'native/process_sampler.cc',
      'native/process_claim.cc',
      'native/young_spaces.cc',
    ],
    binary,
  );
  const output = runPassing(binary, [], /native unit tests passed/);
  // A part the machine cannot run (no seccomp) says so rather than passing
  // silently; CI, which has seccomp, requires every part.
  const skipped = output.split('\n').filter((l) => l.startsWith('skipped:'));
  for (const line of skipped) t.diagnostic(line);
  if (process.env.PROCMETER_REQUIRE_SECCOMP === '1') assert.deepEqual(skipped, [], 'PROCMETER_REQUIRE_SECCOMP=1');
});

const FORK_WATCH_SOURCES = ['test/native/fork_watch_test.cc', 'native/fork_watch.cc'];

test('the fork watch gives a child of fork() its own pid', () => {
  const binary = `${root}build/test/fork_watch_test`;
  compile('g++', SANITIZED, FORK_WATCH_SOURCES, binary);
  runPassing(binary, [], /fork watch passed, using its wipe-on-fork page/);
});

// Debian 12's qemu-user (7.2) answers every madvise() with 0 and wipes
// nothing: the watch must see through it and fall back to getpid().
test('the fork watch gives a child of fork() its own pid on arm64 under qemu-user', (t) => {
  const missing = ['aarch64-linux-gnu-g++', 'qemu-aarch64'].filter((tool) => spawnSync(tool, ['--version']).error);
  if (missing.length > 0) {
    // CI installs both; elsewhere say what is missing rather than fail.
    assert.notEqual(process.env.PROCMETER_REQUIRE_ARM64_EMULATION, '1', `missing: ${missing.join(', ')}`);
    t.skip(`needs ${missing.join(' and ')} (Debian: g++-aarch64-linux-gnu, qemu-user)`);
    return;
  }
  const binary = `${root}build/test/fork_watch_test_arm64`;
  compile('aarch64-linux-gnu-g++', ['-O1', '-static'], FORK_WATCH_SOURCES, binary);
  const output = runPassing('qemu-aarch64', [binary], /fork watch passed/);
  t.diagnostic(output.trim());
});
