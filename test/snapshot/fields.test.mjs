// Each collect() field against the kernel's own account, read by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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

const { collect } = procmeter;

test('every documented process field is a number, and the snapshot has nothing undocumented', () => {
  const snapshot = collect();
  assert.deepEqual(Object.keys(snapshot).sort(), [...procmeter.SLOTS.map((slot) => slot.field), 'gc', 'heapSpaces'].sort());
  for (const slot of procmeter.SLOTS.filter((s) => s.scope === 'process')) {
    assert.equal(typeof snapshot[slot.field], 'number', slot.field);
    assert.ok(!Number.isNaN(snapshot[slot.field]), `${slot.field} is NaN on Linux`);
  }
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

test('CPU seconds match process.cpuUsage() within 10 ms and rise after a busy loop', () => {
  const cpuSeconds = (usage) => ({ user: usage.user / 1e6, system: usage.system / 1e6 });
  const first = collect();
  const nodeFirst = cpuSeconds(process.cpuUsage());
  assertClose(first.cpuUserSeconds, nodeFirst.user, 0.01, 'user CPU');
  assertClose(first.cpuSystemSeconds, nodeFirst.system, 0.01, 'system CPU');

  busyLoop(300);

  const second = collect();
  const nodeSecond = cpuSeconds(process.cpuUsage());
  assertClose(second.cpuUserSeconds, nodeSecond.user, 0.01, 'user CPU after busy loop');
  assertClose(second.cpuSystemSeconds, nodeSecond.system, 0.01, 'system CPU after busy loop');
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
