// The process-metrics claim without a native addon: an Int32 in a
// SharedArrayBuffer (0: unclaimed, else the owner's threadId + 1) that
// worker threads inherit through worker_threads environment data. It must
// exist before the first worker starts, so procmeter makes it when it loads
// the fallback, not when the OpenTelemetry layer is first used.
import { getEnvironmentData, setEnvironmentData, type Worker } from 'node:worker_threads';

const ENVIRONMENT_KEY = 'procmeter:process-metrics-owner';

/** This process's claim cell: inherited from the parent thread, else made and published. */
export function sharedClaimCell(): Int32Array {
  let buffer = getEnvironmentData(ENVIRONMENT_KEY);
  if (!(buffer instanceof SharedArrayBuffer)) {
    buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    setEnvironmentData(ENVIRONMENT_KEY, buffer);
  }
  const cell = new Int32Array(buffer as SharedArrayBuffer);
  releaseForEndedWorkers(cell);
  return cell;
}

// Set on a thread's process object once its listener is added: procmeter
// evaluated again in the thread (a cleared require cache, a test runner's
// fresh module registry) finds the same cell and needs no second listener.
const RELEASING = Symbol.for('procmeter.releasesClaimOfEndedWorkers');

// A worker that ends without shutdown() (terminate(), process.exit() or an
// uncaught error in it) cannot give the claim back: no JavaScript runs in it
// any more. The thread that started it sees it end and gives the claim back
// for it, if the worker held it. (The native addon's claim is released when
// the worker's environment is torn down.)
function releaseForEndedWorkers(cell: Int32Array): void {
  const thisProcess = process as unknown as Record<symbol, boolean | undefined>;
  if (thisProcess[RELEASING]) return;
  thisProcess[RELEASING] = true;
  process.on('worker', (worker: Worker) => {
    const owner = worker.threadId + 1; // threadId reads -1 once the worker has ended
    worker.once('exit', () => Atomics.compareExchange(cell, 0, owner, 0));
  });
}
