// Each collect() field against the kernel's own account, read by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import procmeter from '../helpers/procmeter.mjs';
import {
  listedOpenFds,
  openFileLimits,
  procStartTimeSeconds,
  psStartTimeSeconds,
  statusField,
} from '../helpers/ground-truth.mjs';
import { assertBracketedCounter, assertBracketedEqual, assertClose, busyLoop } from '../helpers/assertions.mjs';
import { runNode } from '../helpers/child.mjs';

const { collect } = procmeter;

test('every documented process field is a number, and the snapshot has nothing undocumented', () => {
  const snapshot = collect();
  assert.deepEqual(Object.keys(snapshot).sort(), [...procmeter.SLOTS.map((slot) => slot.field), 'gc', 'heapSpaces'].sort());
  for (const slot of procmeter.SLOTS.filter((s) => s.scope === 'process')) {
    assert.equal(typeof snapshot[slot.field], 'number', slot.field);
    assert.ok(!Number.isNaN(snapshot[slot.field]), `${slot.field} is NaN on Linux`);
  }
});

// The README's field tables, written for users, against what collect()
// returns (the layout generates both the snapshot and procmeter.SLOTS, so
// only the README is an independent list).
test("the README's field tables list exactly the snapshot's fields, with the kind diff() treats them as", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split(/^## Snapshot fields$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'the README has a "## Snapshot fields" section');
  const documented = new Map(); // name -> kind
  const nested = { gc: new Set(), heapSpaces: new Set() };
  for (const [, names, kind] of section.matchAll(/^\| (`[^|]+) \| [^|]* \| (counter|gauge) \|/gm)) {
    let parent;
    for (const [, name] of names.matchAll(/`([^`]+)`/g)) {
      const whole = /^(gc|heapSpaces)\[\w+\]\.(\w+)$/.exec(name);
      if (whole) {
        parent = whole[1];
        nested[parent].add(whole[2]);
      } else if (name.startsWith('.')) {
        nested[parent].add(name.slice(1));
      } else {
        documented.set(name, kind);
      }
    }
  }
  const snapshot = collect();
  const flat = Object.keys(snapshot).filter((key) => typeof snapshot[key] === 'number');
  assert.deepEqual([...documented.keys()].sort(), flat.sort());
  assert.deepEqual([...nested.gc].sort(), Object.keys(snapshot.gc.scavenge).sort());
  assert.deepEqual([...nested.heapSpaces].sort(), Object.keys(snapshot.heapSpaces[0]).sort());
  for (const slot of procmeter.SLOTS) assert.equal(documented.get(slot.field), slot.kind, `${slot.field}'s kind`);
});

test('residentMemoryBytes equals VmRSS', () => {
  assertBracketedEqual(() => statusField('VmRSS'), () => collect().residentMemoryBytes, 'resident memory');
});

test('virtualMemoryBytes equals VmSize', () => {
  assertBracketedEqual(() => statusField('VmSize'), () => collect().virtualMemoryBytes, 'virtual memory');
});

test('dataBytes equals VmData + VmStk (statm counts the stack in its data field)', () => {
  assertBracketedEqual(
    () => statusField('VmData') + statusField('VmStk'),
    () => collect().dataBytes,
    'data segment',
  );
});

test('maxResidentMemoryBytes equals getrusage maxrss as Node reports it, close to VmHWM', () => {
  // getrusage and /proc/self/status sum the kernel's RSS counters at
  // different moments and granularity; they differ by a few pages.
  assertClose(collect().maxResidentMemoryBytes, statusField('VmHWM'), 1024 * 1024, 'max RSS vs VmHWM');
  assertBracketedCounter(
    () => process.resourceUsage().maxRSS * 1024,
    () => collect().maxResidentMemoryBytes,
    'max resident memory',
  );
});

test('openFds equals the /proc/self/fd listing, less the fd procmeter counts with', () => {
  assertBracketedEqual(() => listedOpenFds() - 1, () => collect().openFds, 'open fds');
});

test('maxFds and maxFdsHard equal /proc/self/limits', () => {
  const limits = openFileLimits();
  const snapshot = collect();
  assert.equal(snapshot.maxFds, limits.soft);
  assert.equal(snapshot.maxFdsHard, limits.hard);
});

test('threads equals Threads in /proc/self/status', () => {
  assertBracketedEqual(() => statusField('Threads'), () => collect().threads, 'threads');
});

test('startTimeSeconds matches /proc start time, ps, and Node’s own start', () => {
  const { startTimeSeconds } = collect();
  // Both from field 22 of /proc/self/stat (10 ms ticks); the boot instant here
  // comes from /proc/uptime, also 10 ms resolution.
  assertClose(startTimeSeconds, procStartTimeSeconds(), 0.05, 'start time vs /proc');
  // ps prints whole seconds and derives boot time from /proc/stat btime,
  // itself truncated to whole seconds: it can read up to 2 s early.
  const ps = psStartTimeSeconds(process.pid);
  assert.ok(startTimeSeconds >= ps && startTimeSeconds < ps + 2, `start ${startTimeSeconds} vs ps ${ps}`);
  // Node's time origin is taken shortly after the process starts.
  const nodeOrigin = performance.timeOrigin / 1000;
  assert.ok(startTimeSeconds <= nodeOrigin + 0.02, `start ${startTimeSeconds} after Node's origin ${nodeOrigin}`);
  assert.ok(nodeOrigin - startTimeSeconds < 0.5, `start ${startTimeSeconds} long before Node's origin ${nodeOrigin}`);
  assert.equal(collect().startTimeSeconds, startTimeSeconds, 'start time is read once');
});

test('startTimeSeconds follows the wall clock as it is at the first read, also when it was stepped after the process started', (t) => {
  // A wall clock stepped since start-up (NTP, a resumed VM): an LD_PRELOAD
  // shim adds an hour to CLOCK_REALTIME once the child asks for it.
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-clock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const shim = join(dir, 'step.so');
  const compile = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-o', shim, '-x', 'c', '-'], {
    encoding: 'utf8',
    input: `#define _GNU_SOURCE
      #include <stdlib.h>
      #include <sys/syscall.h>
      #include <sys/time.h>
      #include <time.h>
      #include <unistd.h>
      static int stepped(void) { return access(getenv("STEP_FLAG"), F_OK) == 0; }
      int clock_gettime(clockid_t id, struct timespec* ts) {
        int r = (int)syscall(SYS_clock_gettime, id, ts);
        if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE) && stepped()) ts->tv_sec += 3600;
        return r;
      }
      int gettimeofday(struct timeval* tv, void* tz) {
        (void)tz;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
        return 0;
      }`,
  });
  if (compile.error?.code === 'ENOENT') {
    t.skip('no C compiler (cc) to build the clock shim');
    return;
  }
  assert.equal(compile.status, 0, compile.stderr);
  const flag = join(dir, 'stepped');
  const report = runNode(
    `import { writeFileSync } from 'node:fs';
     const before = Date.now() / 1000 - process.uptime();
     writeFileSync(${JSON.stringify(flag)}, '');
     const { collect } = await import('procmeter');
     console.log(JSON.stringify({ before, ours: collect().startTimeSeconds, truth: Date.now() / 1000 - process.uptime() }));`,
    { env: { LD_PRELOAD: shim, STEP_FLAG: flag } },
  ).json();
  assert.ok(report.truth - report.before > 3599, `the shim did not step the clock: ${JSON.stringify(report)}`);
  assertClose(report.ours, report.truth, 0.5, 'start time after a clock step');
});

/**
 * Whether the child can have a mount namespace of its own (CAP_SYS_ADMIN,
 * which root in a container often lacks) and the other tools named; the test
 * is skipped if not, except under .ci/run (as root, with the tools
 * installed), which fails it instead.
 */
function mountNamespaceOrSkip(t, { strace = false } = {}) {
  const needs = `unshare --mount (CAP_SYS_ADMIN)${strace ? ' and strace' : ''}`;
  if (spawnSync('unshare', ['--mount', 'true']).status === 0 && !(strace && spawnSync('strace', ['-V']).error)) return true;
  assert.notEqual(process.env.PROCMETER_REQUIRE_NO_PROC_NAMESPACE, '1', `needs ${needs}`);
  t.skip(`needs ${needs}`);
  return false;
}

// lxcfs (LXC, LXD, Proxmox containers) mounts a /proc/uptime of its own,
// counted from the container's start, over the host's; /proc/self/stat still
// counts the start from the host's boot. Made here with a bind mount in a
// mount namespace of the child's own.
test("in a container whose /proc/uptime counts from the container's start (lxcfs), startTimeSeconds is still the process's", (t) => {
  if (!mountNamespaceOrSkip(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-lxcfs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const uptime = join(dir, 'uptime');
  const [hostUptime] = readFileSync('/proc/uptime', 'utf8').split(' ').map(Number);
  // The container started when the host had been up for 90% of its time.
  writeFileSync(uptime, `${(hostUptime * 0.1).toFixed(2)} 0.00\n`);
  const source = `const { collect } = await import('procmeter');
    const nodeStart = Date.now() / 1000 - process.uptime();
    const { readFileSync } = await import('node:fs');
    console.log(JSON.stringify({ start: collect().startTimeSeconds, nodeStart, uptime: readFileSync('/proc/uptime', 'utf8') }));`;
  const child = spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', 'bash', '-c', `mount --bind ${uptime} /proc/uptime && exec "$@"`, 'bash', process.execPath, '--input-type=module', '-e', source],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout);
  assert.equal(report.uptime, readFileSync(uptime, 'utf8'), "the child reads the container's uptime");
  // Before Node's own start by little (the host's boot instant is known to
  // the second where it comes from /proc/stat's btime), never after it.
  assert.ok(report.start <= report.nodeStart + 0.05, `start ${report.start} after Node's ${report.nodeStart}`);
  assert.ok(report.start > report.nodeStart - 1.5, `start ${report.start} long before Node's ${report.nodeStart}`);
});

test("the fallback's start time: the uptime's boot instant while plausible, else btime's, else Node's start", () => {
  const { processStartSeconds } = createRequire(import.meta.url)('../../dist/cjs/fallback/index.js');
  const boot = 1_700_000_000.25;
  const ticks = 360_000; // an hour after boot, at 100 per second
  const nodeStart = boot + 3600.05;
  const unused = () => assert.fail('btime read although the uptime is plausible');
  assert.equal(processStartSeconds(ticks, 100, boot, unused, nodeStart), boot + 3600);
  // lxcfs: the container came up 30 minutes after the host.
  const containerBoot = boot + 1800;
  assert.equal(processStartSeconds(ticks, 100, containerBoot, () => Math.floor(boot), nodeStart), Math.floor(boot) + 3600);
  // ...with btime the container's too, or unreadable.
  assert.equal(processStartSeconds(ticks, 100, containerBoot, () => Math.floor(containerBoot), nodeStart), nodeStart);
  assert.equal(processStartSeconds(ticks, 100, containerBoot, () => undefined, nodeStart), nodeStart);
});

test("the fallback on Windows leaves NaN what libuv does not count there, and a uname() that fails does not stop it loading", () => {
  // Windows, as far as the fallback can tell (process.platform), and
  // os.release() throwing, as it does when uname() is refused.
  const report = runNode(
    `const os = require('node:os');
     os.release = () => { throw Object.assign(new Error('uname refused'), { code: 'ERR_SYSTEM_ERROR' }); };
     Object.defineProperty(process, 'platform', { value: 'win32' });
     const { collect, implementation } = require('procmeter');
     const s = collect();
     console.log(JSON.stringify({ implementation, ...s, gc: undefined, heapSpaces: undefined }));`,
    { type: 'commonjs', env: { PROCMETER_FORCE_FALLBACK: '1' } },
  ).json();
  assert.equal(report.implementation, 'fallback');
  // NaN, through JSON: libuv gives 0 switches and minor faults there, and every fault as major.
  for (const field of ['voluntaryContextSwitches', 'involuntaryContextSwitches', 'minorPageFaults', 'majorPageFaults']) {
    assert.equal(report[field], null, `${field} on Windows`);
  }
  assert.ok(report.cpuUserSeconds > 0 && report.maxResidentMemoryBytes > 0, JSON.stringify(report));
  assert.ok(report.residentMemoryBytes > 10 * 1024 * 1024, `resident ${report.residentMemoryBytes}`);
});

// A mount namespace without procfs (a bare chroot or sandbox): what only
// /proc tells is NaN, the start time is Node's time origin, and a source that
// cannot be opened at all is not tried again on every call (strace counts
// the opens of /proc files around 1,000 calls).
test('without /proc: startTimeSeconds is Node\'s time origin, procfs fields NaN, and no reopening on every call', (t) => {
  if (!mountNamespaceOrSkip(t, { strace: true })) return;
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-noproc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const trace = join(dir, 'trace');
  const source = `const { collect } = await import('procmeter');
    const snapshot = collect();
    // Only the calls between the markers are counted.
    const { openSync } = await import('node:fs');
    const mark = (name) => { try { openSync('/procmeter-marker-' + name); } catch {} };
    mark('start');
    for (let i = 0; i < 1000; i++) collect(snapshot);
    mark('end');
    console.log(JSON.stringify({ ...snapshot, gc: undefined, heapSpaces: undefined, timeOrigin: performance.timeOrigin / 1000, procMounted: (await import('node:fs')).existsSync('/proc/self') }));`;
  const child = spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', 'bash', '-c', `umount -l /proc && exec strace -f -qq -e trace=open,openat -o ${trace} "$@"`, 'bash', process.execPath, '--input-type=module', '-e', source],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout);
  assert.equal(report.procMounted, false);
  assert.equal(report.startTimeSeconds, report.timeOrigin, 'start time without /proc/self/stat');
  for (const field of ['residentMemoryBytes', 'virtualMemoryBytes', 'dataBytes', 'openFds', 'threads']) {
    assert.equal(report[field], null, `${field} without /proc`); // NaN, through JSON
  }
  assert.ok(report.cpuUserSeconds > 0, 'getrusage needs no /proc');
  const lines = readFileSync(trace, 'utf8').split('\n');
  const start = lines.findIndex((line) => line.includes('/procmeter-marker-start'));
  const end = lines.findIndex((line) => line.includes('/procmeter-marker-end'));
  assert.ok(start >= 0 && end > start, 'markers in the trace');
  const procOpens = lines.slice(start + 1, end).filter((line) => line.includes('"/proc/'));
  assert.ok(procOpens.length < 10, `${procOpens.length} opens of /proc files in 1,000 calls: ${procOpens.slice(0, 4).join(' | ')}`);
});

test('CPU seconds lie between process.cpuUsage() read just before and just after (same getrusage, microseconds) and rise after a busy loop', () => {
  const cpuSeconds = (usage) => ({ user: usage.user / 1e6, system: usage.system / 1e6 });
  // Both read getrusage() to the microsecond: a reader with coarser ticks
  // (/proc/self/stat's 10 ms) would fall outside the bracket. 1e-9: the
  // division into seconds.
  const bracketed = (label) => {
    const before = cpuSeconds(process.cpuUsage());
    const snapshot = collect();
    const after = cpuSeconds(process.cpuUsage());
    for (const mode of ['user', 'system']) {
      const value = snapshot[mode === 'user' ? 'cpuUserSeconds' : 'cpuSystemSeconds'];
      assert.ok(value >= before[mode] - 1e-9 && value <= after[mode] + 1e-9, `${label} ${mode} CPU ${value} s not in [${before[mode]}, ${after[mode]}]`);
    }
    return snapshot;
  };
  const first = bracketed('first');

  busyLoop(300);

  const second = bracketed('after the busy loop');
  const spent = second.cpuUserSeconds + second.cpuSystemSeconds - first.cpuUserSeconds - first.cpuSystemSeconds;
  assert.ok(spent >= 0.2, `300 ms of busy loop added only ${spent} s of CPU`);
});

test('context switches and page faults match process.resourceUsage()', () => {
  const usage = () => process.resourceUsage();
  assertBracketedCounter(() => usage().voluntaryContextSwitches, () => collect().voluntaryContextSwitches, 'voluntary');
  assertBracketedCounter(() => usage().involuntaryContextSwitches, () => collect().involuntaryContextSwitches, 'involuntary');
  assertBracketedCounter(() => usage().minorPageFault, () => collect().minorPageFaults, 'minor faults');
  assertBracketedCounter(() => usage().majorPageFault, () => collect().majorPageFaults, 'major faults');
});
