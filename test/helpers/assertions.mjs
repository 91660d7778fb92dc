import assert from 'node:assert/strict';

/**
 * Reads ground truth, then procmeter, then ground truth again, until the two
 * ground-truth readings agree (the value did not move meanwhile); then
 * procmeter's reading must equal it exactly. Values that never hold still
 * for `attempts` tries, waiting longer after each, fail the test rather
 * than loosen the comparison.
 */
export function assertBracketedEqual(readTruth, readOurs, label, attempts = 50) {
  const seen = [];
  for (let i = 0; i < attempts; i++) {
    const before = readTruth();
    const ours = readOurs();
    const after = readTruth();
    if (before === after) {
      assert.equal(ours, before, `${label}: procmeter read ${ours}, ground truth ${before}`);
      return ours;
    }
    seen.push([before, ours, after]);
    // Process-wide values move with V8's background threads too (resident
    // memory while the JIT and GC threads are busy): give them time.
    pauseMs(Math.min(2 ** i, 20));
  }
  assert.fail(`${label}: ground truth never held still over ${attempts} tries: ${JSON.stringify(seen.slice(0, 5))}`);
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread (only) for `ms` milliseconds. */
function pauseMs(ms) {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** For counters: truth before <= procmeter <= truth after. */
export function assertBracketedCounter(readTruth, readOurs, label) {
  const before = readTruth();
  const ours = readOurs();
  const after = readTruth();
  assert.ok(before <= ours && ours <= after, `${label}: procmeter read ${ours}, ground truth went ${before} -> ${after}`);
  return ours;
}

export function assertClose(actual, expected, tolerance, label) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${label}: ${actual} differs from ${expected} by ${Math.abs(actual - expected)}, more than ${tolerance}`,
  );
}

/**
 * Spins the CPU in user space until the process has used `ms` more
 * milliseconds of CPU time (not wall time: on a loaded machine the thread
 * may get only part of a core).
 */
export function busyLoop(ms) {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return x;
  }
}
