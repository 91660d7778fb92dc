// Which thread reports the process-wide metrics (CPU, memory, fds, ...),
// so that they are reported once per process however many worker threads
// register procmeter. With a native addon the claim is an atomic inside it
// (released when the thread's environment is torn down, also on terminate).
// With the JavaScript fallback it is an atomic in a SharedArrayBuffer that
// worker threads created after procmeter loaded inherit through
// worker_threads environment data.
import { getEnvironmentData, setEnvironmentData, threadId } from 'node:worker_threads';

import { nativeBinding } from '../implementation';

export interface ProcessClaim {
  /** True if this thread reports the process-wide metrics. */
  readonly owned: boolean;
  release(): void;
}

const ENVIRONMENT_KEY = 'procmeter:process-metrics-owner';

function sharedOwnerCell(): Int32Array {
  let buffer = getEnvironmentData(ENVIRONMENT_KEY);
  if (!(buffer instanceof SharedArrayBuffer)) {
    buffer = new SharedArrayBuffer(4);
    setEnvironmentData(ENVIRONMENT_KEY, buffer);
  }
  return new Int32Array(buffer as SharedArrayBuffer);
}

// Created at load, so workers started after procmeter loaded share it.
const ownerCell = nativeBinding ? undefined : sharedOwnerCell();

let holders = 0;

export function claimProcessMetrics(): ProcessClaim {
  let owned: boolean;
  if (nativeBinding) {
    owned = nativeBinding.claimProcessMetrics();
  } else {
    const me = threadId + 1; // 0 means unclaimed
    const previous = Atomics.compareExchange(ownerCell!, 0, 0, me);
    owned = previous === 0 || previous === me;
  }
  if (owned) holders += 1;
  let released = false;
  return {
    owned,
    release() {
      if (!owned || released) return;
      released = true;
      holders -= 1;
      // Several registrations in one thread share the claim.
      if (holders > 0) return;
      if (nativeBinding) nativeBinding.releaseProcessMetrics();
      else Atomics.compareExchange(ownerCell!, 0, threadId + 1, 0);
    },
  };
}
