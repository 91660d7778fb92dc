// The process-metrics claim without a native addon: an Int32 in a
// SharedArrayBuffer (0: unclaimed, else the owner's threadId + 1) that
// worker threads inherit through worker_threads environment data. It must
// exist before the first worker starts, so procmeter makes it when it loads
// the fallback, not when the OpenTelemetry layer is first used.
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';

const ENVIRONMENT_KEY = 'procmeter:process-metrics-owner';

/** This process's claim cell: inherited from the parent thread, else made and published. */
export function sharedClaimCell(): Int32Array {
  let buffer = getEnvironmentData(ENVIRONMENT_KEY);
  if (!(buffer instanceof SharedArrayBuffer)) {
    buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    setEnvironmentData(ENVIRONMENT_KEY, buffer);
  }
  return new Int32Array(buffer as SharedArrayBuffer);
}
