// node:worker_threads, loaded when first asked for: loading it costs
// milliseconds of a process start, which procmeter's native path never pays.
//
// It cannot load at all where the process object was frozen before it first
// loaded (Node's own module assigns to process while it loads). Only the main
// thread can be there, since a worker thread loads it as it starts, and no
// worker thread can be started from there either: procmeter then acts as the
// process's one thread, instead of failing to load or to register.
import { debuglog } from 'node:util';

type WorkerThreads = typeof import('node:worker_threads');

const debug = debuglog('procmeter');
let loaded: WorkerThreads | null | undefined;

/** The node:worker_threads module, or undefined where it cannot load. */
export function workerThreads(): WorkerThreads | undefined {
  if (loaded === undefined) {
    try {
      loaded = require('node:worker_threads') as WorkerThreads;
    } catch (error) {
      debug('node:worker_threads cannot load (a frozen process object?): acting as the only thread: %o', error);
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** True on the main thread, and where node:worker_threads cannot load. */
export function onMainThread(): boolean {
  return workerThreads()?.isMainThread ?? true;
}

/** This thread's worker_threads threadId (0 on the main thread). */
export function currentThreadId(): number {
  return workerThreads()?.threadId ?? 0;
}
