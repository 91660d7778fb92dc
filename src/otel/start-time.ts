// process_start_time_seconds as one number for the whole process. A restart
// alert (changes(process_start_time_seconds[1h]) > 0) fires on any
// difference, and each thread's own reading can differ in its last bits
// (the boot instant comes from two clocks read at a different moment in
// each): the first reading of any thread is published in a cell the
// threads share, as they share the process-metrics claim (claim-cell.ts),
// and every thread reports that one. Made when this layer loads, so that
// the worker threads started after inherit it.
import { sharedCells } from '../claim-cell';

const published = sharedCells('procmeter:process-start-time:v1', 1); // 0n: none yet
// A double and its bits, to keep it in a BigInt64Array.
const asDouble = new Float64Array(1);
const asBits = new BigInt64Array(asDouble.buffer);

/** The process's start time as first published, given this thread's reading (NaN stays NaN). */
export function processStartTimeSeconds(threadReading: number): number {
  if (!(threadReading > 0)) return threadReading;
  asDouble[0] = threadReading;
  const first = Atomics.compareExchange(published, 0, 0n, asBits[0]!);
  if (first === 0n) return threadReading;
  asBits[0] = first;
  return asDouble[0]!;
}
