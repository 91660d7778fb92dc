// Event-loop delay, lag and utilization for one thread, the way prom-client
// measures them: a monitorEventLoopDelay() histogram reset after each
// reading, a setImmediate() lag probe, and eventLoopUtilization().
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopReading {
  /** Delay statistics since the previous reading, seconds (NaN if no samples). */
  minSeconds: number;
  maxSeconds: number;
  meanSeconds: number;
  stddevSeconds: number;
  p50Seconds: number;
  p90Seconds: number;
  p99Seconds: number;
  /** How late the last completed setImmediate() probe ran, seconds (NaN before the first). */
  lagSeconds: number;
  /** Share of time the loop was busy since the previous reading, 0..1 (NaN if that was less than the delay resolution ago). */
  utilization: number;
  /** Busy and idle time since the thread started, seconds. */
  activeSeconds: number;
  idleSeconds: number;
}

export class EventLoopMonitor {
  // Dropped at stop(): its native memory (about 370 KB) then goes with the
  // wrapper, whatever still holds the monitor.
  private histogram: IntervalHistogram | undefined;
  private lastUtilization: EventLoopUtilization;
  private lagSeconds = NaN;
  private probing = false;
  private stopped = false;

  constructor(
    private readonly resolutionMs: number,
    private readonly withStddev: boolean,
  ) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
    this.lastUtilization = performance.eventLoopUtilization();
  }

  /** Starts a lag probe: the delay until a setImmediate() callback runs. */
  probeLag(): Promise<void> {
    if (this.probing || this.stopped) return Promise.resolve();
    this.probing = true;
    const started = process.hrtime.bigint();
    return new Promise((resolve) => {
      // Unref'd, as every timer of procmeter's: a probe must not keep the
      // process alive (an update() from a 'beforeExit' listener would
      // otherwise start another turn, and another), nor be counted among
      // the application's active resources.
      setImmediate(() => {
        this.lagSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.probing = false;
        resolve();
      }).unref();
    });
  }

  /**
   * The first probe, from the registration: started in the next turn of the
   * loop. Registered in a preload or the first lines of a main module or a
   * worker, a probe timed from now would report the rest of the start-up.
   */
  probeLagFromNextTurn(): void {
    setImmediate(() => void this.probeLag()).unref();
  }

  read(): EventLoopReading {
    const now = performance.eventLoopUtilization();
    const sinceLast = performance.eventLoopUtilization(now, this.lastUtilization);
    // A window shorter than the delay sampling (a second reader collecting
    // right after the first, a final update() at shutdown) holds little
    // more than the reading before it, all busy time: its utilization would
    // read near 1 for an idle loop. It is left out, and its time goes to
    // the next window.
    const windowMs = sinceLast.active + sinceLast.idle;
    const longEnough = windowMs >= this.resolutionMs;
    if (longEnough) this.lastUtilization = now;
    // An empty histogram has no statistics, and asking it for a percentile
    // still walks every bucket (~14 us): check first.
    const filled = this.histogram !== undefined && this.histogram.count > 0 ? this.histogram : undefined;
    const seconds = (ns: (h: IntervalHistogram) => number) => {
      if (filled === undefined) return NaN;
      const value = ns(filled);
      return Number.isFinite(value) ? value / 1e9 : NaN;
    };
    const reading: EventLoopReading = {
      minSeconds: seconds((h) => h.min),
      maxSeconds: seconds((h) => h.max),
      // mean and stddev walk the whole histogram (~19 us and ~170 us):
      // mean because prom-client reports it, stddev only when asked for.
      meanSeconds: seconds((h) => h.mean),
      stddevSeconds: this.withStddev ? seconds((h) => h.stddev) : NaN,
      p50Seconds: seconds((h) => h.percentile(50)),
      p90Seconds: seconds((h) => h.percentile(90)),
      p99Seconds: seconds((h) => h.percentile(99)),
      lagSeconds: this.lagSeconds,
      utilization: longEnough ? sinceLast.utilization : NaN,
      activeSeconds: now.active / 1000,
      idleSeconds: now.idle / 1000,
    };
    filled?.reset();
    return reading;
  }

  stop(): void {
    this.stopped = true;
    this.histogram?.disable();
    this.histogram = undefined;
  }
}
