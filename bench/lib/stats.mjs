// Small statistics and timing helpers for the benchmarks.

/** The collect() benchmark's floor for the process part (bench/floor.c). */
export const C_FLOOR = 'C floor (same syscalls, no N-API, own process)';
/** The collect() benchmark's floor for all of a snapshot (bench/floor-v8.cc). */
export const SAME_WORK_FLOOR = 'same-work floor: syscalls + V8 heap calls (C++ loop in Node, no N-API)';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** ns per call of `fn`, timed over `calls` calls with process.hrtime.bigint(). */
export function timeSync(fn, calls) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - start) / calls;
}

/** ns per call of an async `fn`, awaited one after another. */
export async function timeAsync(fn, calls) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return Number(process.hrtime.bigint() - start) / calls;
}

/**
 * Each round visits the candidates in its own order, shuffled with a fixed
 * seed (the same orders in every run), so that none always follows the same
 * one, whose leftovers in the caches (or a process it started) would weigh
 * on it alone. (Plain reversal every other round would make the first and
 * last candidates follow themselves in half the rounds.)
 */
function inRoundOrder(candidates, round) {
  const order = [...candidates];
  let state = (0x9e3779b9 * (round + 1)) >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Measures every candidate in rounds, each round visiting all of them in
 * turn, so that drift in machine speed hits them alike. Returns, per
 * candidate, the median ns/op over the rounds and the samples, one per
 * round (pairedRatio() compares two candidates round by round). A candidate
 * whose fn runs a loop of its own says how many operations one call is
 * (opsPerCall); one that times itself elsewhere (another process) gives
 * time(calls), returning ns per call, instead of fn.
 */
export async function measureSideBySide(candidates, { rounds, targetSampleMs = 20 }) {
  const timeOf = (candidate, calls) => {
    if (candidate.time) return candidate.time(calls);
    return candidate.async ? timeAsync(candidate.fn, calls) : timeSync(candidate.fn, calls);
  };
  const perCall = new Map();
  // Calibrate calls per sample so each sample lasts about targetSampleMs.
  for (const candidate of candidates) {
    const probe = await timeOf(candidate, candidate.async ? 20 : 200);
    perCall.set(candidate.name, Math.max(5, Math.round((targetSampleMs * 1e6) / probe)));
  }
  const samples = new Map(candidates.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const candidate of inRoundOrder(candidates, round)) {
      const ns = await timeOf(candidate, perCall.get(candidate.name));
      samples.get(candidate.name).push(ns / (candidate.opsPerCall ?? 1));
    }
  }
  return candidates.map((c) => ({ name: c.name, nsPerOp: median(samples.get(c.name)), samples: samples.get(c.name) }));
}

/**
 * Single calls at collection intervals: in every round, each candidate in
 * turn waits `pauseMs` (the event loop idle, as between collections) and
 * then has one call timed. What a service pays per collection, with cold
 * caches, where measureSideBySide() times calls back to back. Returns, per
 * candidate, the median ns per call and the samples. A candidate that
 * times itself elsewhere gives spacedOnce(pauseMs), which pauses, times one
 * call and returns its ns, instead of fn: it takes its turn in every round
 * like the others, so that drift in machine speed reaches it alike.
 */
export async function measureSpaced(candidates, { rounds, pauseMs }) {
  const sleep = () => new Promise((resolve) => setTimeout(resolve, pauseMs));
  const samples = new Map(candidates.map((c) => [c.name, []]));
  for (const candidate of candidates) {
    if (!candidate.spacedOnce) await (candidate.async ? timeAsync(candidate.fn, 20) : timeSync(candidate.fn, 200)); // optimised, as in a service
  }
  for (let round = 0; round < rounds; round++) {
    for (const candidate of inRoundOrder(candidates, round)) {
      if (candidate.spacedOnce) {
        samples.get(candidate.name).push(candidate.spacedOnce(pauseMs));
        continue;
      }
      await sleep();
      const ns = await (candidate.async ? timeAsync(candidate.fn, 1) : timeSync(candidate.fn, 1));
      samples.get(candidate.name).push(ns);
    }
  }
  return candidates.map((c) => ({ name: c.name, nsPerOp: median(samples.get(c.name)), samples: samples.get(c.name) }));
}

/**
 * The median over rounds of a's time / b's time in the same round: two
 * candidates measured side by side, compared where the machine ran at one
 * speed, which the ratio of two medians over a drifting run is not.
 */
export function pairedRatio(a, b) {
  if (a.samples.length !== b.samples.length) throw new Error(`${a.name} and ${b.name} have different numbers of rounds`);
  return median(a.samples.map((ns, round) => ns / b.samples[round]));
}

export function formatNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} us`;
  return `${ns.toFixed(0)} ns`;
}
