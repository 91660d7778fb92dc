// The process-metrics claim that every copy of procmeter in the process
// shares, native or JavaScript (two versions in nested node_modules, a worker
// on the fallback beside threads on the addon): a BigInt64Array on a
// SharedArrayBuffer published in worker_threads environment data, which
// worker threads started after it inherit, so it is made early (see
// processClaimCell() in implementation.ts). The native addon takes it
// through shareClaimCell() and adds a claim of its own
// (native/process_claim.h).
import { debuglog, types } from 'node:util';
import type { Worker } from 'node:worker_threads';

import { currentThreadId, workerThreads } from './threads';

const debug = debuglog('procmeter');

// Versioned: a copy of procmeter that keeps the cell another way must not
// read this one.
const ENVIRONMENT_KEY = 'procmeter:process-metrics-claim:v2';
const HOLDER = 0; // 0n: unclaimed; else the holder's token
const TOKENS_GIVEN = 1; // makes every token unique in the process
const CELL_COUNT = 2;

/** The cells this thread's environment data holds under `key`, if any. */
function publishedCells(key: string = ENVIRONMENT_KEY, count: number = CELL_COUNT): BigInt64Array | undefined {
  const buffer = workerThreads()?.getEnvironmentData(key);
  // isSharedArrayBuffer(), not instanceof: procmeter evaluated in another
  // realm of this thread (a vm context) must find the cell, not replace it.
  if (!types.isSharedArrayBuffer(buffer) || buffer.byteLength < count * BigInt64Array.BYTES_PER_ELEMENT) return undefined;
  return new BigInt64Array(buffer, 0, count);
}

/**
 * `count` zeroed atomics that the threads of this process share under
 * `key`: inherited from the parent thread, or else made and published, for
 * the worker threads started after this call.
 */
export function sharedCells(key: string, count: number): BigInt64Array {
  // node:worker_threads loaded here, not at the top: it costs milliseconds
  // of start-up (see processClaimCell() in implementation.ts). Where it
  // cannot load, no worker thread can start: the cells go unpublished.
  let cells = publishedCells(key, count);
  if (cells === undefined) {
    cells = new BigInt64Array(new SharedArrayBuffer(count * BigInt64Array.BYTES_PER_ELEMENT));
    workerThreads()?.setEnvironmentData(key, cells.buffer as SharedArrayBuffer);
  }
  return cells;
}

export interface ClaimCell {
  readonly cells: BigInt64Array;
  /** Its holder's: the threadId + 1 in the high 32 bits, a serial number below. */
  readonly token: bigint;
}

/**
 * The claim cell, inherited from the parent thread or else made and
 * published, with a token of its own: one per evaluation of procmeter (a
 * copy, or the same copy evaluated again in a thread).
 */
export function sharedClaimCell(): ClaimCell {
  const cells = sharedCells(ENVIRONMENT_KEY, CELL_COUNT);
  const serial = BigInt.asUintN(32, Atomics.add(cells, TOKENS_GIVEN, 1n) + 1n);
  return { cells, token: (BigInt(currentThreadId() + 1) << 32n) | serial };
}

/** True if this thread holds the claim now (taking it when free). */
export function claimCell({ cells, token }: ClaimCell): boolean {
  const holder = Atomics.compareExchange(cells, HOLDER, 0n, token);
  return holder === 0n || holder === token;
}

export function releaseCell({ cells, token }: ClaimCell): void {
  Atomics.compareExchange(cells, HOLDER, token, 0n);
}

const RELEASING = Symbol.for('procmeter.releasesClaimOfEndedWorkers.v2');

/**
 * A worker that ends without shutdown() (terminate(), process.exit() or an
 * uncaught error in it) cannot give the claim back: no JavaScript runs in it
 * any more. The native addon gives it back when the worker's environment is
 * torn down; for a worker on the fallback, the thread that started it sees
 * it end and gives the claim back for it, if the worker held it. Called
 * when procmeter loads, once per thread whichever copy or evaluation comes
 * first (it releases for any of them); it loads nothing.
 */
export function releaseClaimsOfEndedWorkers(): void {
  const thisProcess = process as unknown as Record<symbol, boolean | undefined>;
  if (thisProcess[RELEASING]) return;
  try {
    Object.defineProperty(process, RELEASING, { value: true, configurable: true });
    process.on('worker', releaseWhenItEnds);
  } catch (error) {
    // A frozen process object takes no new property or listener: loading
    // still works; a fallback worker that ends holding the claim keeps it.
    debug('cannot watch workers end: %o', error);
  }
}

function releaseWhenItEnds(worker: Worker): void {
  const thread = BigInt(worker.threadId + 1); // threadId reads -1 once the worker has ended
  worker.once('exit', () => {
    const cells = publishedCells(); // a worker existed: node:worker_threads is loaded already
    if (cells === undefined) return;
    const holder = Atomics.load(cells, HOLDER);
    if (holder >> 32n === thread) Atomics.compareExchange(cells, HOLDER, holder, 0n);
  });
}
