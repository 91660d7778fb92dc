// Which thread reports the process-wide metrics (CPU, memory, fds, ...),
// so that they are reported once per process however many worker threads
// register procmeter. With a native addon the claim is an atomic inside it
// (released when the thread's environment is torn down, also on terminate).
// With the JavaScript fallback it is an atomic in a SharedArrayBuffer made
// when procmeter loaded (src/fallback/claim-cell.ts), which worker threads
// started after that share (a worker that ends without shutdown() has it
// given back by the thread that started it). Every registration that
// reports the process group asks at each collection, so when the thread
// holding the claim goes, another one takes it over.
import { threadId } from 'node:worker_threads';

import { _internals } from '../index';

const { nativeBinding, fallbackClaimCell } = _internals;

export interface ProcessClaim {
  /**
   * True if this thread reports the process-wide metrics now. Takes the
   * claim when no thread holds it (the one that did shut down or ended), so
   * it is asked again at every collection: one atomic compare-and-swap.
   */
  tryOwn(): boolean;
  release(): void;
}

function take(): boolean {
  if (nativeBinding) return nativeBinding.claimProcessMetrics();
  const me = threadId + 1; // 0 means unclaimed
  const previous = Atomics.compareExchange(fallbackClaimCell!, 0, 0, me);
  return previous === 0 || previous === me;
}

// This thread's live registrations: they share its claim, given up when the
// last of them shuts down.
let registrations = 0;

export function claimProcessMetrics(): ProcessClaim {
  registrations += 1;
  let released = false;
  return {
    tryOwn: () => !released && take(),
    release() {
      if (released) return;
      released = true;
      registrations -= 1;
      if (registrations > 0) return;
      if (nativeBinding) nativeBinding.releaseProcessMetrics();
      else Atomics.compareExchange(fallbackClaimCell!, 0, threadId + 1, 0);
    },
  };
}
