import assert from 'node:assert/strict';

/**
 * Reads ground truth, then procmeter, then ground truth again, until the two
 * ground-truth readings agree (the value did not move meanwhile); then
 * procmeter's reading must equal it exactly. Values that never hold still
 * for `attempts` tries fail the test rather than loosen the comparison.
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
  }
  assert.fail(`${label}: ground truth never held still over ${attempts} tries: ${JSON.stringify(seen.slice(0, 5))}`);
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

/** Spins the CPU in user space for about `ms` milliseconds. */
export function busyLoop(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}
