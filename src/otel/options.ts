// Options of registerProcessMetrics(): defaults and validation. Every error
// names the option, what it accepts and what it got.
import { describeValue, isObject } from '../validate';

export const NAMINGS = ['prometheus', 'semconv'] as const;
export type Naming = (typeof NAMINGS)[number];

export const MODES = ['observable', 'push'] as const;
export type Mode = (typeof MODES)[number];

export const METRIC_GROUPS = ['process', 'gc', 'heap', 'eventLoop', 'resources', 'runtime'] as const;
export type MetricGroup = (typeof METRIC_GROUPS)[number];

/** prom-client 15's default GC buckets, in seconds. */
export const PROMETHEUS_GC_BUCKETS: readonly number[] = [0.001, 0.01, 0.1, 1, 2, 5];
/** The bucket advice of semantic conventions for v8js.gc.duration, in seconds. */
export const SEMCONV_GC_BUCKETS: readonly number[] = [0.01, 0.1, 1, 10];

/**
 * An OpenTelemetry MeterProvider, as far as procmeter's types need one:
 * spelled out so that they type-check without @opentelemetry/api (an
 * optional peer dependency) for users of collect() alone. Every
 * MeterProvider of the API is one.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: { schemaUrl?: string }): object;
}

export interface ProcessMetricsHandle {
  readonly naming: Naming;
  readonly mode: Mode;
  /**
   * Whether this registration reports the process-wide metrics (one thread
   * per process does), as of the last collection or update: when the thread
   * that reported them goes, another registration takes them over. False
   * once this handle has been shut down.
   */
  readonly reportsProcessMetrics: boolean;
  /**
   * Push mode: reads now and brings every instrument up to date (counters by
   * the difference since the last update). Observable mode: collections
   * read; update() only records the GC pauses counted so far into the pause
   * histogram, so that a flush or shutdown of the provider right after it
   * exports them all, and puts the registration in the running for the
   * process-wide metrics as a collection does. Either mode, while waiting for the SDK's global
   * MeterProvider: looks for it first. Never throws; a no-op after shutdown().
   */
  update(): void;
  /** Push mode: counts a request and calls update() every pushEveryRequests calls. */
  countRequest(): void;
  /** A Connect/Express-style middleware that calls countRequest(). */
  middleware(): (request: unknown, response: unknown, next?: (error?: unknown) => void) => void;
  /** Push mode: takes a last update first. Removes the callbacks, timers and observers. Idempotent. */
  shutdown(): void;
}

export interface ProcessMetricsOptions {
  /**
   * Where to create the instruments. Default: the global MeterProvider; set
   * before an SDK has set one, the registration waits for it (see the README).
   */
  meterProvider?: MeterProviderLike;
  /** 'prometheus' (default): prom-client's names. 'semconv': OpenTelemetry semantic conventions. */
  naming?: Naming;
  /**
   * 'observable' (default): asynchronous instruments read once per collection.
   * 'push': synchronous instruments fed by update(), on a timer and on demand.
   */
  mode?: Mode;
  /** Which groups to report. Default: all of them. */
  metricGroups?: readonly MetricGroup[];
  /** GC pause histogram bucket boundaries in seconds, ascending. Default depends on naming. */
  gcDurationBuckets?: readonly number[];
  /** Event-loop delay sampling resolution in milliseconds (default 10, as prom-client). */
  eventLoopDelayResolutionMs?: number;
  /** Also report the event-loop delay standard deviation (costs ~0.17 ms per collection: it walks the whole delay histogram). Default false. */
  eventLoopDelayStddev?: boolean;
  /** Push mode: update() on an unref'd timer this often, in ms (default 30,000; 0 turns it off). */
  pushIntervalMs?: number;
  /** Push mode: countRequest() calls update() every this many calls (default 1,000; 0 turns it off). */
  pushEveryRequests?: number;
}

/**
 * What shapes a registration, in a form two registrations can compare: the
 * same for two calls that would register alike. An option a registration
 * ignores (push settings in observable mode, a metric group's settings with
 * that group off) does not count.
 */
export function settingsKey(options: ResolvedOptions): string {
  const { naming, mode, metricGroups } = options;
  const eventLoop = metricGroups.has('eventLoop');
  return JSON.stringify({
    naming,
    mode,
    metricGroups: [...metricGroups].sort(),
    gcDurationBuckets: metricGroups.has('gc') ? options.gcDurationBuckets : null,
    eventLoopDelayResolutionMs: eventLoop ? options.eventLoopDelayResolutionMs : null,
    eventLoopDelayStddev: eventLoop ? options.eventLoopDelayStddev : null,
    pushIntervalMs: mode === 'push' ? options.pushIntervalMs : null,
    pushEveryRequests: mode === 'push' ? options.pushEveryRequests : null,
  });
}

export interface ResolvedOptions {
  readonly meterProvider: MeterProviderLike | undefined;
  readonly naming: Naming;
  readonly mode: Mode;
  readonly metricGroups: ReadonlySet<MetricGroup>;
  readonly gcDurationBuckets: readonly number[];
  readonly eventLoopDelayResolutionMs: number;
  readonly eventLoopDelayStddev: boolean;
  readonly pushIntervalMs: number;
  readonly pushEveryRequests: number;
}

const KNOWN_OPTIONS = new Set<string>([
  'meterProvider',
  'naming',
  'mode',
  'metricGroups',
  'gcDurationBuckets',
  'eventLoopDelayResolutionMs',
  'eventLoopDelayStddev',
  'pushIntervalMs',
  'pushEveryRequests',
]);

const where = 'procmeter.registerProcessMetrics()';

/** `value` if it is one of `accepted`; `fallback` if undefined and there is one. */
function oneOf<T extends string>(name: string, value: unknown, accepted: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'string' && (accepted as readonly string[]).includes(value)) return value as T;
  const message = `${where}: options.${name} must be one of ${accepted.map((a) => `'${a}'`).join(', ')}; got ${describeValue(value)}`;
  throw typeof value === 'string' ? new RangeError(message) : new TypeError(message);
}

function integerInRange(name: string, value: unknown, fallback: number, min: number, max: number, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') {
    throw new TypeError(`${where}: options.${name} must be a number of ${unit}; got ${describeValue(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${where}: options.${name} must be an integer from ${min} to ${max} (${unit}); got ${value}`);
  }
  return value;
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isObject(options)) {
    throw new TypeError(`${where}: options must be an object or undefined; got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new TypeError(`${where}: unknown option '${key}'; known options are ${[...KNOWN_OPTIONS].join(', ')}`);
    }
  }

  const meterProvider = options['meterProvider'];
  if (meterProvider !== undefined && (!isObject(meterProvider) || typeof meterProvider['getMeter'] !== 'function')) {
    throw new TypeError(`${where}: options.meterProvider must be an OpenTelemetry MeterProvider (with getMeter()); got ${describeValue(meterProvider)}`);
  }

  const naming = oneOf('naming', options['naming'], NAMINGS, 'prometheus');
  const mode = oneOf('mode', options['mode'], MODES, 'observable');

  let metricGroups: Set<MetricGroup> = new Set(METRIC_GROUPS);
  const groups = options['metricGroups'];
  if (groups !== undefined) {
    if (!Array.isArray(groups)) {
      throw new TypeError(`${where}: options.metricGroups must be an array of ${METRIC_GROUPS.map((g) => `'${g}'`).join(', ')}; got ${describeValue(groups)}`);
    }
    metricGroups = new Set();
    // An index loop, not map(): map() skips the holes of a sparse array.
    for (let i = 0; i < groups.length; i++) metricGroups.add(oneOf(`metricGroups[${i}]`, groups[i], METRIC_GROUPS));
  }

  let gcDurationBuckets = naming === 'prometheus' ? PROMETHEUS_GC_BUCKETS : SEMCONV_GC_BUCKETS;
  const buckets = options['gcDurationBuckets'];
  if (buckets !== undefined) {
    // Array.from() turns the holes of a sparse array into undefined, which
    // some() and every() would skip.
    const values: unknown[] | undefined = Array.isArray(buckets) ? Array.from(buckets) : undefined;
    const notNumber = values?.findIndex((b) => typeof b !== 'number') ?? -1;
    if (values === undefined || notNumber !== -1) {
      const got = values === undefined ? describeValue(buckets) : `an array with ${describeValue(values[notNumber])} at index ${notNumber}`;
      throw new TypeError(`${where}: options.gcDurationBuckets must be an array of numbers (seconds); got ${got}`);
    }
    const numbers = values as number[];
    const ascending = numbers.every((b, i) => Number.isFinite(b) && b >= 0 && (i === 0 || b > numbers[i - 1]!));
    if (numbers.length === 0 || !ascending) {
      throw new RangeError(`${where}: options.gcDurationBuckets must be non-empty, finite, non-negative and strictly ascending; got [${numbers.join(', ')}]`);
    }
    gcDurationBuckets = numbers;
  }

  const stddev = options['eventLoopDelayStddev'];
  if (stddev !== undefined && typeof stddev !== 'boolean') {
    throw new TypeError(`${where}: options.eventLoopDelayStddev must be a boolean; got ${describeValue(stddev)}`);
  }

  return {
    meterProvider: meterProvider as MeterProviderLike | undefined,
    naming,
    mode,
    metricGroups,
    gcDurationBuckets,
    // monitorEventLoopDelay() accepts resolutions from 1 ms.
    eventLoopDelayResolutionMs: integerInRange('eventLoopDelayResolutionMs', options['eventLoopDelayResolutionMs'], 10, 1, 60_000, 'milliseconds'),
    eventLoopDelayStddev: stddev ?? false,
    pushIntervalMs: integerInRange('pushIntervalMs', options['pushIntervalMs'], 30_000, 0, 2 ** 31 - 1, 'milliseconds'),
    pushEveryRequests: integerInRange('pushEveryRequests', options['pushEveryRequests'], 1000, 0, Number.MAX_SAFE_INTEGER, 'requests'),
  };
}
