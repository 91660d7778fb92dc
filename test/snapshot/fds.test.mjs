// Open fd counting: exact under churn, and still working at EMFILE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

import procmeter, { expectedImplementation, isNative } from '../helpers/procmeter.mjs';
import { listedOpenFds, openFileLimits } from '../helpers/ground-truth.mjs';
import { runNode } from '../helpers/child.mjs';

const { collect } = procmeter;

/** value between the ground truth read just before and just after it, give or take 1 MiB (pages touched in between). */
function assertWithin(value, before, after, label) {
  const slack = 1024 * 1024;
  assert.ok(value >= Math.min(before, after) - slack && value <= Math.max(before, after) + slack, `${label}: ${value}, ground truth ${before} -> ${after}`);
}

test('openFds follows opening and closing 1,000 fds exactly', () => {
  const baseline = collect().openFds;
  assert.equal(baseline, listedOpenFds() - 1);
  const fds = [];
  for (let i = 0; i < 1000; i++) fds.push(openSync('/dev/null', 'r'));
  assert.equal(collect().openFds, baseline + 1000);
  assert.equal(collect().openFds, listedOpenFds() - 1);
  for (const fd of fds.splice(0, 400)) closeSync(fd);
  assert.equal(collect().openFds, baseline + 600);
  for (const fd of fds) closeSync(fd);
  assert.equal(collect().openFds, baseline);
});

test('maxFds follows `ulimit -n` in a child process', () => {
  // Node raises its soft limit to the hard one at start-up, so soft and hard
  // are equal here; the prlimit test below tells them apart.
  for (const limit of [64, 1234, 4321]) {
    const child = runNode(
      `import { collect } from 'procmeter';
       import { readFileSync } from 'node:fs';
       const s = collect();
       const limits = /^Max open files\\s+(\\S+)\\s+(\\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
       console.log(JSON.stringify({ maxFds: s.maxFds, maxFdsHard: s.maxFdsHard, soft: Number(limits[1]), hard: Number(limits[2]) }));`,
      { shellPrefix: `ulimit -n ${limit}` },
    ).json();
    assert.deepEqual(child, { maxFds: limit, maxFdsHard: limit, soft: limit, hard: limit });
  }
});

test('maxFds follows a limit changed at run time from outside (prlimit)', async () => {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `
      import { collect } from 'procmeter';
      import { createInterface } from 'node:readline';
      for await (const line of createInterface({ input: process.stdin })) {
        const s = collect();
        console.log(JSON.stringify({ maxFds: s.maxFds, maxFdsHard: s.maxFdsHard }));
      }`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = child.stdout.setEncoding('utf8')[Symbol.asyncIterator]();
  const ask = async () => {
    child.stdin.write('\n');
    const { value } = await lines.next();
    return JSON.parse(value);
  };
  try {
    const initial = await ask();
    assert.equal(initial.maxFds, openFileLimits(child.pid).soft);
    const lowered = initial.maxFds - 7;
    const prlimit = spawn('prlimit', ['--pid', String(child.pid), `--nofile=${lowered}:${initial.maxFdsHard}`]);
    const [code] = await once(prlimit, 'exit');
    assert.equal(code, 0, 'prlimit failed');
    assert.deepEqual(await ask(), { maxFds: lowered, maxFdsHard: initial.maxFdsHard });
  } finally {
    child.stdin.end();
    await once(child, 'exit');
  }
});

test('a child that exhausts its fd limit still gets a correct snapshot', () => {
  const limit = 256;
  const child = runNode(
    `import { collect } from 'procmeter';
     import { openSync, readdirSync } from 'node:fs';
     // Start-up I/O still in flight (the module loader's reads) would open
     // or close an fd between the fill and the snapshot (seen once).
     await new Promise((resolve) => setTimeout(resolve, 200));
     const before = collect();
     // fds inherited above the limit stay open and count too.
     const aboveLimit = readdirSync('/proc/self/fd').filter((fd) => Number(fd) >= ${limit}).length;
     let error;
     const fds = [];
     try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { error = e.code; }
     const atLimit = collect();
     console.log(JSON.stringify({ error, opened: fds.length, aboveLimit, before, atLimit }));`,
    { shellPrefix: `ulimit -n ${limit}` },
  ).json();
  assert.equal(child.error, 'EMFILE');
  const { atLimit, before } = child;
  // open() hands out the lowest free fd, so EMFILE means fds 0..limit-1 are
  // all open; procmeter's count leaves out its own counting fd.
  assert.equal(atLimit.openFds, limit + child.aboveLimit - 1);
  assert.equal(atLimit.openFds, before.openFds + child.opened);
  assert.equal(atLimit.maxFds, limit);
  for (const slot of procmeter.SLOTS.filter((s) => s.scope === 'process')) {
    const value = atLimit[slot.field];
    assert.ok(Number.isFinite(value) && value >= 0, `${slot.field} = ${value} at EMFILE`);
  }
  assert.ok(atLimit.heapUsedBytes > 0, 'heap figures at EMFILE');
  assert.ok(atLimit.residentMemoryBytes > 10 * 1024 * 1024);
  assert.ok(atLimit.threads >= 1);
  assert.equal(atLimit.startTimeSeconds, before.startTimeSeconds);
});

test('a child whose first snapshot comes at EMFILE gets the start time procfs gives, read while procmeter loaded', () => {
  // bash sleeps, then execs Node under its own pid: the kernel's start time
  // is then 0.3 s before Node's time origin, a guess no one can take for it.
  const groundTruth = new URL('../helpers/ground-truth.mjs', import.meta.url).href;
  const child = runNode(
    `import { collect } from 'procmeter';
     import { closeSync, openSync } from 'node:fs';
     import { procStartTimeSeconds } from '${groundTruth}';
     let error;
     const fds = [];
     try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { error = e.code; }
     const atLimit = collect().startTimeSeconds;
     for (const fd of fds) closeSync(fd);
     console.log(JSON.stringify({ error, atLimit, later: collect().startTimeSeconds, procfs: procStartTimeSeconds(), timeOrigin: performance.timeOrigin / 1000 }));`,
    { shellPrefix: 'ulimit -n 256 && sleep 0.3' },
  ).json();
  assert.equal(child.error, 'EMFILE');
  assert.ok(child.timeOrigin - child.procfs > 0.25, `the test's premise: ${JSON.stringify(child)}`);
  // 10 ms ticks and the uptime's 10 ms, either way, and a preemption
  // between the test's own reads; the time origin is 0.25 s off.
  assert.ok(Math.abs(child.atLimit - child.procfs) < 0.1, JSON.stringify(child));
  assert.equal(child.later, child.atLimit);
});

test('procmeter loaded with just the fds it keeps free: its first snapshot has the memory figures and the start time', () => {
  // The figures read once (the start time; the fallback's page size too)
  // are read before the kept files are opened, which then take the last fds.
  const groundTruth = new URL('../helpers/ground-truth.mjs', import.meta.url).href;
  const keptFds = isNative ? 3 : 4; // statm, fd, task (the fallback: limits too)
  const child = runNode(
    `import { closeSync, openSync } from 'node:fs';
     import { procStartTimeSeconds } from '${groundTruth}';
     await new Promise((resolve) => setTimeout(resolve, 200)); // start-up's fds settle
     const fds = [];
     try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch {}
     for (const fd of fds.splice(-${keptFds})) closeSync(fd);
     const { collect, implementation } = await import('procmeter');
     const first = collect();
     let stillFree = 0;
     try { for (;;) { fds.push(openSync('/dev/null', 'r')); stillFree++; } } catch {}
     for (const fd of fds) closeSync(fd);
     console.log(JSON.stringify({ implementation, first, stillFree, procfs: procStartTimeSeconds() }));`,
    { shellPrefix: 'ulimit -n 256' },
  ).json();
  assert.equal(child.implementation, expectedImplementation);
  assert.equal(child.stillFree, 0, 'the kept files took the fds left');
  assert.ok(child.first.residentMemoryBytes > 10 * 1024 * 1024, `resident ${child.first.residentMemoryBytes}`);
  assert.ok(child.first.virtualMemoryBytes > child.first.residentMemoryBytes, `virtual ${child.first.virtualMemoryBytes}`);
  assert.ok(Math.abs(child.first.startTimeSeconds - child.procfs) < 0.1, `start ${child.first.startTimeSeconds} vs procfs ${child.procfs}`);
});

test('the native addon reopening its kept fds into a full fd table (as in a fork\'s child) still reads the start time', { skip: !isNative && 'the fallback never reopens for another process' }, () => {
  // close() gives back the kept fds the way a fork's child lets go of its
  // parent's: the next sample reopens them and reads the start time again,
  // with exactly those numbers free.
  const groundTruth = new URL('../helpers/ground-truth.mjs', import.meta.url).href;
  const child = runNode(
    `import { createRequire } from 'node:module';
     import { closeSync, openSync } from 'node:fs';
     import { procStartTimeSeconds } from '${groundTruth}';
     const { collect, _internals } = createRequire(process.cwd() + '/')('procmeter'); // _internals: CommonJS only
     await new Promise((resolve) => setTimeout(resolve, 200)); // start-up I/O done
     const before = collect();
     let error;
     const fds = [];
     try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { error = e.code; }
     _internals.nativeBinding.close();
     const reopened = collect();
     for (const fd of fds) closeSync(fd);
     console.log(JSON.stringify({ error, before, reopened, procfs: procStartTimeSeconds(), opened: fds.length }));`,
    { shellPrefix: 'ulimit -n 256' },
  ).json();
  assert.equal(child.error, 'EMFILE');
  assert.ok(Math.abs(child.reopened.startTimeSeconds - child.procfs) < 0.1, JSON.stringify({ reopened: child.reopened.startTimeSeconds, procfs: child.procfs }));
  // The kept fds came back: the snapshot is whole at EMFILE.
  assert.equal(child.reopened.openFds, child.before.openFds + child.opened);
  assert.ok(child.reopened.residentMemoryBytes > 10 * 1024 * 1024 && child.reopened.threads >= 1, JSON.stringify(child.reopened));
});

test('st_size of /proc/self/fd is taken for the count only on Linux 6.2 and later, whose release the fallback reads', async () => {
  const { createRequire } = await import('node:module');
  const { kernelReleaseAtLeast } = createRequire(import.meta.url)('../../dist/cjs/fallback/index.js');
  for (const release of ['6.2.0', '6.18.3-arch1-1', '7.0', '10.1.0']) assert.equal(kernelReleaseAtLeast(release, 6, 2), true, release);
  // Older kernels report st_size 0; gVisor and WSL 1 report 4.4.0 releases.
  for (const release of ['6.1.0-28-cloud-amd64', '5.15.0-1053-azure', '4.4.0-19041-Microsoft', '4.4.0', '', '6', 'v6.2']) {
    assert.equal(kernelReleaseAtLeast(release, 6, 2), false, release);
  }
});

// In a child's script: `kept`, procmeter's kept fds (those linked to this
// process's procfs files), by number; `own`, the prefix of their targets.
const KEPT_FDS = `
  const own = '/proc/' + process.pid + '/';
  const kept = [];
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync('/proc/self/fd/' + name);
      if (target.startsWith(own)) kept.push({ fd: Number(name), target });
    } catch {} // the listing's own fd, closed by now
  }
  kept.sort((a, b) => a.fd - b.fd);`;

// Code that closes every descriptor above 2 without forking (some
// daemonizing helpers do) takes the procfs fds procmeter keeps, and may open
// its own files under the same numbers. procmeter must notice, read its own
// files again, and leave the application's descriptors alone.
for (const reuse of [false, true]) {
  test(`procmeter's kept fds closed by the application${reuse ? ' and their numbers reused' : ''}: the next snapshot is still right`, (t) => {
    const groundTruth = new URL('../helpers/ground-truth.mjs', import.meta.url).href;
    const child = runNode(
      `
      import { collect, implementation } from 'procmeter';
      import { closeSync, openSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import { listedOpenFds, openFileLimits, statusField } from ${JSON.stringify(groundTruth)};

      // Let the start-up's asynchronous file reads finish: an fd of theirs
      // could take a number this test reuses, or be open while procmeter
      // counts and gone when the listing does.
      await new Promise((resolve) => setTimeout(resolve, 200));
      collect();
      ${KEPT_FDS}
      for (const { fd } of kept) closeSync(fd);

      // Each number reused by a file that a careless read would take for
      // procmeter's: a directory for /proc/self/fd and /proc/self/task (its
      // size and link count read as counts), a statm look-alike for the rest.
      const dir = realpathSync(mkdtempSync(join(tmpdir(), 'procmeter-reuse-'))); // as readlink shows it
      const lookAlike = join(dir, 'statm');
      writeFileSync(lookAlike, '1 2 3 4 5 6 7\\n');
      const reused = [];
      if (${reuse}) {
        for (const { fd: number, target } of kept) {
          const path = /\\/(fd|task)$/.test(target) ? '/' : lookAlike;
          // Linux hands out the lowest free number: fill any lower gap first.
          for (;;) {
            const fd = openSync(path, 'r');
            if (fd === number) { reused.push({ fd, path }); break; }
            if (fd > number) throw new Error('fd ' + number + ' was taken by something else: ' + readlinkSync('/proc/self/fd/' + number) + ' (kept: ' + JSON.stringify(kept) + ')');
          }
        }
      }

      // The memory figures move by 64 MiB first: a stale reading cannot pass.
      const moved = Buffer.alloc(64 * 1024 * 1024, 1);
      const truthBefore = { rss: statusField('VmRSS'), size: statusField('VmSize') };
      const s = collect();
      const truth = {
        rss: statusField('VmRSS'), size: statusField('VmSize'), threads: statusField('Threads'),
        openFds: listedOpenFds(), maxFds: openFileLimits().soft, moved: moved.length,
      };
      const stillTheApplications = reused.every(({ fd, path }) => readlinkSync('/proc/self/fd/' + fd) === path);
      rmSync(dir, { recursive: true, force: true });
      console.log(JSON.stringify({ implementation, kept: kept.map((k) => k.target.slice(own.length)), s, truthBefore, truth, stillTheApplications }));`,
    ).json();
    assert.equal(child.implementation, expectedImplementation, 'the child runs the implementation under test');
    t.diagnostic(`kept: ${child.kept.join(', ')}`);
    assert.ok(child.kept.includes('statm') && child.kept.includes('fd') && child.kept.includes('task'), `procmeter keeps statm, fd and task open: ${child.kept}`);
    const { s, truth, truthBefore } = child;
    assertWithin(s.residentMemoryBytes, truthBefore.rss, truth.rss, 'RSS vs VmRSS');
    assertWithin(s.virtualMemoryBytes, truthBefore.size, truth.size, 'virtual vs VmSize');
    assert.equal(s.threads, truth.threads);
    assert.equal(s.openFds, truth.openFds - 1, 'open fds: the listing minus the fd procmeter counts with');
    assert.equal(s.maxFds, truth.maxFds);
    assert.equal(child.stillTheApplications, true, "the application's files under the reused numbers are still open");
  });
}

// The directories' identity comes with every read; the files' is checked
// once a second. A file procmeter reads, taken over under its number by a
// look-alike while the directories stay procmeter's, may be read for up to
// a second, never for good.
test("procmeter's statm alone replaced under its number by a look-alike: snapshots are right again a second later, the application's file is no longer read, and it stays open", () => {
  const groundTruth = new URL('../helpers/ground-truth.mjs', import.meta.url).href;
  const child = runNode(
    `
    import { collect, implementation } from 'procmeter';
    import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync, mkdtempSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    import { statusField } from ${JSON.stringify(groundTruth)};

    await new Promise((resolve) => setTimeout(resolve, 200)); // start-up's fds settle
    collect();
    ${KEPT_FDS}
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'procmeter-statm-'))); // as readlink shows it
    const lookAlike = join(dir, 'statm');
    writeFileSync(lookAlike, '1 2 3 4 5 6 7\\n');
    const replaced = kept.filter(({ target }) => target.endsWith('/statm'));
    for (const { fd: number } of replaced) {
      closeSync(number);
      const lower = [];
      for (;;) {
        const fd = openSync(lookAlike, 'r');
        if (fd === number) break;
        if (fd > number) throw new Error('fd ' + number + ' was taken by something else');
        lower.push(fd);
      }
      for (const fd of lower) closeSync(fd);
    }
    const rightAway = collect().residentMemoryBytes;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
    // Whether the next collect() reads the application's file: a read moves
    // its access time when that is older than its modification time (relatime).
    const longAgo = new Date('2001-01-01T00:00:00Z');
    utimesSync(lookAlike, longAgo, new Date());
    // The memory figures move by 64 MiB first: a stale reading cannot pass.
    const moved = Buffer.alloc(64 * 1024 * 1024, 1);
    const truthBefore = { rss: statusField('VmRSS'), size: statusField('VmSize') };
    const s = collect();
    const readByProcmeter = statSync(lookAlike).atimeMs !== longAgo.getTime();
    const truthRss = statusField('VmRSS');
    const truthSize = statusField('VmSize');
    const stillTheApplications = replaced.every(({ fd }) => readlinkSync('/proc/self/fd/' + fd) === lookAlike && readFileSync(fd, 'latin1') === '1 2 3 4 5 6 7\\n');
    // The control: the application's own read just now did move it.
    const readByApplication = statSync(lookAlike).atimeMs !== longAgo.getTime();
    rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify({ implementation, replaced: replaced.map((k) => k.target.slice(own.length)), rightAway, s, truthBefore, truthRss, moved: moved.length, truthSize, stillTheApplications, readByProcmeter, readByApplication }));`,
  ).json();
  assert.equal(child.implementation, expectedImplementation, 'the child runs the implementation under test');
  assert.deepEqual(child.replaced, ['statm'], 'procmeter keeps one statm open');
  const { s } = child;
  assertWithin(s.residentMemoryBytes, child.truthBefore.rss, child.truthRss, `RSS vs VmRSS (right after the swap: ${child.rightAway})`);
  assertWithin(s.virtualMemoryBytes, child.truthBefore.size, child.truthSize, 'virtual vs VmSize');
  assert.equal(child.stillTheApplications, true, "the application's look-alike is still open under the number");
  assert.equal(child.readByApplication, true, "the test's premise: a read of the look-alike moves its access time here");
  assert.equal(child.readByProcmeter, false, "once found foreign, the application's file is not read by procmeter");
});

// procfs gives every open of /proc/self/statm (fd, task) the same inode:
// the application's own opens of the same files under procmeter's old
// numbers must be told apart too.
for (const [reuse, openAs] of [
  ['other files', () => "'/dev/zero'"],
  ['opens of the same /proc files', (target) => `${target}.replace(/^\\/proc\\/\\d+\\//, '/proc/self/')`],
]) {
  test(`a worker's kept fds closed and their numbers reused by the application (${reuse}): the worker's end leaves the application's files open`, { skip: !isNative && 'the fallback keeps no fds in workers' }, () => {
    // The worker closes the fds its procmeter keeps; the main thread opens
    // files under those numbers (Node closes the fds a worker opened with fs
    // when it exits, so the worker cannot hold them); then the worker ends.
    const result = runNode(
      `
      const { Worker } = require('node:worker_threads');
      const { once } = require('node:events');
      const { openSync, readlinkSync } = require('node:fs');
      const WORKER = \`
        const { closeSync, readdirSync, readlinkSync } = require('node:fs');
        const { parentPort } = require('node:worker_threads');
        // Open fds, without the one the listing itself used (closed by now).
        const listed = () => new Set(readdirSync('/proc/self/fd').filter((n) => {
          try { readlinkSync('/proc/self/fd/' + n); return true; } catch { return false; }
        }).map(Number));
        const before = listed();
        require('procmeter').collect();
        // The worker's own kept fds: opened by its first collect().
        const own = '/proc/' + process.pid + '/';
        const kept = [...listed()].filter((fd) => !before.has(fd) && readlinkSync('/proc/self/fd/' + fd).startsWith(own));
        const targets = kept.sort((a, b) => a - b).map((fd) => ({ fd, target: readlinkSync('/proc/self/fd/' + fd) }));
        for (const fd of kept) closeSync(fd);
        parentPort.postMessage(targets);
        parentPort.once('message', () => parentPort.close());\`;
      (async () => {
        const worker = new Worker(WORKER, { eval: true });
        const [kept] = await once(worker, 'message');
        const reused = [];
        for (const { fd: number, target } of kept) {
          const path = ${openAs('target')};
          // Linux hands out the lowest free number: fill any lower gap first.
          for (;;) {
            const fd = openSync(path, 'r');
            if (fd === number) { reused.push({ fd, link: readlinkSync('/proc/self/fd/' + fd) }); break; }
            if (fd > number) throw new Error('fd ' + number + ' was taken by something else');
          }
        }
        worker.postMessage('end');
        await once(worker, 'exit');
        const stillOpen = reused.filter(({ fd, link }) => { try { return readlinkSync('/proc/self/fd/' + fd) === link; } catch { return false; } });
        console.log(JSON.stringify({ kept: kept.length, reused: reused.length, stillOpen: stillOpen.length }));
      })();`,
      { type: 'commonjs' },
    ).json();
    assert.equal(result.kept, 3, 'the worker kept statm, fd and task');
    assert.deepEqual(result, { kept: 3, reused: 3, stillOpen: 3 });
  });
}
