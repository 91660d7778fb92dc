// Which thread reports the process-wide metrics (CPU, memory, fds, ...),
// so that they are reported once per process however many worker threads,
// and copies of procmeter, register them. The claim is an atomic in a
// SharedArrayBuffer (src/claim-cell.ts), made when this layer first loads
// (with the fallback, when procmeter loads), which every copy, native or
// fallback, and the worker threads started after that share. The native addon asks it, after a claim of its own that keeps
// the addon to one thread where cells differ (native/process_claim.h), and
// gives it back when the thread's environment is torn down, also on
// terminate(); for the fallback, the thread that started a worker gives it
// back when the worker ends. Every registration that reports the process
// group asks at each collection, so when the thread holding the claim goes,
// another one takes it over.
import { claimCell, releaseCell } from '../claim-cell';
import { _internals } from '../index';

const { nativeBinding } = _internals;
// Made (if the fallback has not made it at load) as soon as this layer
// loads, before the application may start workers that should share it.
const processClaimCell = _internals.processClaimCell();

export interface ProcessClaim {
  /**
   * True if this thread reports the process-wide metrics now. Takes the
   * claim when no thread holds it (the one that did shut down or ended), so
   * it is asked again at every collection: one atomic compare-and-swap.
   */
  tryOwn(): boolean;
  release(): void;
  /**
   * After release(): true if no other thread holds the claim now, for one
   * last report of what was read before (taken for that moment, and given
   * back unless another registration of this thread holds it).
   */
  lastReport(): boolean;
}

function take(): boolean {
  return nativeBinding ? nativeBinding.claimProcessMetrics(processClaimCell.token) : claimCell(processClaimCell);
}

function giveBack(): void {
  if (nativeBinding) nativeBinding.releaseProcessMetrics(processClaimCell.token);
  else releaseCell(processClaimCell);
}

// This evaluation's live registrations in this thread that have collected
// or updated: they share its claim, given up when the last of them shuts
// down. A registration counts from its first tryOwn(), not before: one
// whose collections never come (a provider never read) must not keep the
// claim for this thread once those that reported have shut down.
let registrations = 0;

export function claimProcessMetrics(): ProcessClaim {
  let counted = false;
  let released = false;
  return {
    tryOwn() {
      if (released) return false;
      if (!counted) {
        counted = true;
        registrations += 1;
      }
      return take();
    },
    release() {
      if (released) return;
      released = true;
      if (!counted) return;
      registrations -= 1;
      if (registrations === 0) giveBack();
    },
    lastReport() {
      if (!released || !counted) return false;
      const owned = take();
      // Also when the take failed: the native addon keeps the claim of its
      // own copy of procmeter even then, which would keep it from the other
      // threads of this copy for good.
      if (registrations === 0) giveBack();
      return owned;
    },
  };
}
