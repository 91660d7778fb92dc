// registerProcessMetrics(): the catalog turned into OpenTelemetry instruments,
// fed either by one batch observable callback per collection or by update().
import type {
  Attributes,
  BatchObservableCallback,
  BatchObservableResult,
  Counter,
  Gauge,
  Histogram,
  Meter,
  MeterProvider,
  Observable,
  UpDownCounter,
} from '@opentelemetry/api';
import { debuglog } from 'node:util';

import { createSnapshot, collect } from '../index';
import { catalogFor, sourceRead, type MetricSpec, type Reading } from './catalog';
import { EventLoopMonitor } from './event-loop';
import { registerOnceProviderIsSet } from './awaiting-provider';
import { addPauseSink, deliverPauses } from './gc-pauses';
import { collectionStarted, holdingDuringCollections, recordHeldPauses } from './pause-histogram';
import { METRIC_GROUPS, resolveOptions, settingsKey, type MetricGroup, type Mode, type Naming, type ProcessMetricsHandle, type ProcessMetricsOptions, type ResolvedOptions } from './options';
import { claimProcessMetrics } from './process-claim';
import { describeValue } from '../validate';
import { readActiveResources } from './resources';
import { threadResident } from '../thread-resident';
import { currentThreadId, onMainThread } from '../threads';
import { packageVersion, thisFile } from '../bundling';

export type { ProcessMetricsHandle } from './options';

const debug = debuglog('procmeter');
const METER_NAME = 'procmeter';

type OtelApi = typeof import('@opentelemetry/api');

function loadOtelApi(): OtelApi {
  try {
    return require('@opentelemetry/api') as OtelApi;
  } catch (error) {
    throw new Error(
      'procmeter.registerProcessMetrics() needs @opentelemetry/api (a peer dependency): npm install @opentelemetry/api',
      { cause: error },
    );
  }
}

/** A registration as its handles see it. */
interface Registration extends ProcessMetricsHandle {
  /**
   * What a handle let go while others remain hands on, for a shutdown or
   * flush of the provider that may follow: push mode, an update; observable
   * mode, the GC pauses counted so far, recorded outside any collection
   * (without entering the running for the process metrics, which only
   * collections and update() do).
   */
  handOnCounted(): void;
}

interface SharedRegistration {
  readonly handle: Registration;
  readonly settings: string;
  handles: number;
  /** Called when its last handle is shut down. */
  readonly forget: () => void;
}

// This thread's registrations, by MeterProvider and naming. The SDK hands
// every call the same meter and so the same instrument storage: a second
// set of instruments would add every push-mode total and record every GC
// pause twice. A second registerProcessMetrics() (the zero-code start plus
// one in the app, say) shares the first registration instead. Kept per
// thread for this code (see thread-resident.ts): procmeter evaluated again
// after a hot reload shares them, as one evaluation.
const registrations = threadResident(`otel registrations:${thisFile}`, () => new WeakMap<MeterProvider, Map<Naming, SharedRegistration>>());

// Which copy of procmeter made its instruments on a MeterProvider, per
// naming, in what mode, and whether a registration of that copy still
// reports through them; shared by every copy in this thread. Another copy
// (a second version in node_modules, the zero-code start from a global
// install) has provider records and attribute objects of its own, so
// instruments of the same names made by both would count push-mode totals
// twice: a copy registers only where no other copy reports, and, after one
// did, only in observable mode, whose values are absolute.
const THIS_CODE = thisFile;
interface InstrumentMaker {
  readonly code: string;
  readonly mode: Mode;
  reporting: boolean;
  /** The copy whose GC counts the GC instruments carry, once a registration with the gc group made them. */
  readonly gcCounts: string | undefined;
}
const instrumentMakers = threadResident('otel instrument makers v2', () => new WeakMap<object, Map<Naming, InstrumentMaker>>());

function makersOn(provider: MeterProvider): Map<Naming, InstrumentMaker> {
  let makers = instrumentMakers.get(provider);
  if (makers === undefined) instrumentMakers.set(provider, (makers = new Map()));
  return makers;
}

/**
 * The shut-down observable registrations whose callbacks still hand their
 * last readings to the collections (until their removal runs), per
 * provider and naming, shared by every copy of procmeter in the thread. A
 * registration made after them, by any copy, reads its metric groups anew:
 * those are left to it (narrow()), since an older, lower total observed
 * after its own would make the SDK take a monotonic sum for reset and add it
 * again.
 */
interface WaitingReading {
  narrow(groupsReadAnew: ReadonlySet<string>): void;
}
const waitingReadings = threadResident('otel waiting last readings v1', () => new WeakMap<object, Map<string, Set<WaitingReading>>>());

function waitingReadingsOn(provider: MeterProvider, naming: Naming): Set<WaitingReading> {
  let byNaming = waitingReadings.get(provider);
  if (byNaming === undefined) waitingReadings.set(provider, (byNaming = new Map()));
  let waiting = byNaming.get(naming);
  if (waiting === undefined) byNaming.set(naming, (waiting = new Set()));
  return waiting;
}

/** Why another copy's instruments on this provider rule a registration out, if they do. */
function otherCopyInTheWay(maker: InstrumentMaker | undefined, resolved: ResolvedOptions): string | undefined {
  if (maker === undefined || maker.code === THIS_CODE) return undefined;
  if (maker.reporting) return 'and reports through them';
  if (maker.mode === 'push') {
    return `in 'push' mode, whose totals the SDK keeps adding to (a registration of this copy in '${resolved.mode}' mode would export them twice)`;
  }
  if (resolved.mode === 'push') {
    return "in 'observable' mode (a registration of this copy in 'push' mode would export the same metrics a second time, from instruments of another kind)";
  }
  return undefined;
}

/**
 * The options without the gc group where another copy's GC counts went into
 * the GC instruments on this provider. Each copy's GC counters start at its
 * own load, so a copy taking over from one loaded earlier would send the
 * exported totals back (and record again the pauses the other recorded):
 * its GC metrics are left out, with a warning, and the rest reported.
 */
function withoutOtherCopysGc(maker: InstrumentMaker | undefined, resolved: ResolvedOptions): ResolvedOptions {
  if (maker?.gcCounts === undefined || maker.gcCounts === THIS_CODE || !resolved.metricGroups.has('gc')) return resolved;
  process.emitWarning(
    `procmeter: another copy of procmeter counted this thread's GCs into the '${resolved.naming}' GC instruments on this MeterProvider, ` +
      "from when it loaded; this copy's counts, from when it loaded, would send those totals back. This registration leaves its GC " +
      'metrics out. Load one copy (npm ls procmeter), or register this one with another MeterProvider.',
    { code: 'PROCMETER_OTHER_COPY_GC' },
  );
  return { ...resolved, metricGroups: new Set([...resolved.metricGroups].filter((group) => group !== 'gc')) };
}

// What the two namings share once translated to Prometheus names: semconv's
// process.context_switches and prometheus naming's counter both become
// process_context_switches_total (with other labels), and through OTLP
// semconv's nodejs.eventloop.utilization becomes the other's
// nodejs_eventloop_utilization_ratio.
function warnIfNamingsCollide(makers: Map<Naming, InstrumentMaker>, naming: Naming): void {
  const other: Naming = naming === 'prometheus' ? 'semconv' : 'prometheus';
  if (!makers.has(other)) return;
  process.emitWarning(
    `procmeter: both namings on one MeterProvider: semconv's process.context_switches and nodejs.eventloop.utilization reach Prometheus ` +
      `under prometheus naming's names (process_context_switches_total, nodejs_eventloop_utilization_ratio), as two series or one ` +
      'series written twice. Give each naming a MeterProvider of its own.',
    { code: 'PROCMETER_NAMINGS_COLLIDE' },
  );
}

/** A handle that reports nothing, for a registration refused without an error. */
function inertHandle(resolved: ResolvedOptions): ProcessMetricsHandle {
  return {
    naming: resolved.naming,
    mode: resolved.mode,
    reportsProcessMetrics: false,
    update() {},
    countRequest() {},
    middleware: () => passThrough,
    shutdown() {},
  };
}

/**
 * Registers the process and runtime metrics with an OpenTelemetry
 * MeterProvider (the global one by default). Options are validated up front;
 * after that nothing on the metrics path throws into the application.
 * Registering again for the same provider and naming in the same thread
 * returns a handle on the registration already there (with its options);
 * it ends when every handle on it has been shut down.
 */
export function registerProcessMetrics(options?: ProcessMetricsOptions): ProcessMetricsHandle {
  const resolved = resolveOptions(options);
  checkGroupsHaveMetrics(resolved);
  const api = loadOtelApi();
  if (resolved.meterProvider !== undefined) return registerWith(resolved.meterProvider as MeterProvider, resolved, api);
  const globalProvider = (): MeterProvider | undefined => {
    const provider = api.metrics.getMeterProvider();
    // Not a provider at all: registerWith() says so.
    if (typeof provider?.getMeter !== 'function') return provider;
    return isNoopMeter(api, procmeterMeter(provider)) ? undefined : provider;
  };
  const provider = globalProvider();
  if (provider !== undefined) return registerWith(provider, resolved, api);
  return registerOnceProviderIsSet({
    naming: resolved.naming,
    mode: resolved.mode,
    globalProvider,
    unusableProvider: () => unusableGlobalProvider(api),
    register: (provider) => registerWith(provider, resolved, api),
  });
}

// A registration of nothing (metricGroups: [], or only groups the naming
// has no metric in) is a mistake, not a choice: say so now.
function checkGroupsHaveMetrics(resolved: ResolvedOptions): void {
  const catalog = catalogFor(resolved.naming, resolved.eventLoopDelayStddev);
  if (catalog.metrics.some((spec) => resolved.metricGroups.has(spec.group))) return;
  const withMetrics = METRIC_GROUPS.filter((group) => catalog.metrics.some((spec) => spec.group === group));
  throw new RangeError(
    `procmeter.registerProcessMetrics(options): options.metricGroups selects no metric of naming '${resolved.naming}' ` +
      `(got [${[...resolved.metricGroups].map((group) => `'${group}'`).join(', ')}]); groups with metrics in it: ${withMetrics.map((group) => `'${group}'`).join(', ')}`,
  );
}

// Where the OpenTelemetry API keeps what was registered globally, by major version.
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** What any copy of the API registered globally, with the version of the copy that made the record. */
export function globalApiRecord(): { version?: unknown; metrics?: unknown } | undefined {
  return (globalThis as Record<symbol, { version?: unknown; metrics?: unknown } | undefined>)[API_GLOBAL];
}

/**
 * Why a global MeterProvider that is registered comes back from the API as
 * its no-op one: set through a copy of @opentelemetry/api with a lower minor
 * version than procmeter's, which the API does not accept.
 */
export function unusableGlobalProvider(api: OtelApi): string | undefined {
  const registry = globalApiRecord();
  // The API hands out what is registered whenever it accepts it.
  if (registry?.metrics === undefined || registry.metrics === api.metrics.getMeterProvider()) return undefined;
  return (
    `a global MeterProvider is registered through @opentelemetry/api ${String(registry.version)}, which the copy procmeter loads ` +
    'does not accept (an older minor version); install one version of @opentelemetry/api (npm ls @opentelemetry/api)'
  );
}

function registerWith(provider: MeterProvider, resolved: ResolvedOptions, api: OtelApi): ProcessMetricsHandle {
  let byNaming = registrations.get(provider);
  if (byNaming === undefined) registrations.set(provider, (byNaming = new Map()));
  let shared = byNaming.get(resolved.naming);
  if (shared === undefined) {
    // The API's no-op meter (passed explicitly) keeps no instruments:
    // nothing later must stay consistent with what it was given.
    const meter = checkedMeter(provider, resolved);
    const record = isNoopMeter(api, meter) ? undefined : recordOf(provider);
    const makers = record ? makersOn(provider) : undefined;
    const previousMaker = makers?.get(resolved.naming);
    const inTheWay = otherCopyInTheWay(previousMaker, resolved);
    if (inTheWay !== undefined) {
      process.emitWarning(
        `procmeter: another copy of procmeter made its '${resolved.naming}' instruments on this MeterProvider, ${inTheWay}; ` +
          'this registration reports nothing. Load one copy (npm ls procmeter), or register this one with another MeterProvider.',
        { code: 'PROCMETER_OTHER_COPY' },
      );
      return inertHandle(resolved);
    }
    if (record) checkModeUnchanged(record, resolved);
    if (makers) warnIfNamingsCollide(makers, resolved.naming);
    const used = withoutOtherCopysGc(previousMaker, resolved);
    // Before the instruments are made: a registration that fails part-way
    // (the application's MeterProvider throws) leaves those it made in the SDK.
    record?.modes.set(resolved.naming, resolved.mode);
    // The API's no-op meter never collects: nothing waits there.
    const waiting = record ? waitingReadingsOn(provider, resolved.naming) : undefined;
    const handle = createRegistration(used, api, meter, record, waiting);
    for (const reading of waiting ?? []) reading.narrow(used.metricGroups);
    const maker: InstrumentMaker = {
      code: THIS_CODE,
      mode: resolved.mode,
      reporting: true,
      gcCounts: used.metricGroups.has('gc') ? THIS_CODE : previousMaker?.gcCounts,
    };
    makers?.set(resolved.naming, maker);
    shared = {
      handle,
      settings: settingsKey(resolved),
      handles: 0,
      forget: () => {
        maker.reporting = false;
        byNaming.delete(resolved.naming);
      },
    };
    byNaming.set(resolved.naming, shared);
  } else if (shared.settings !== settingsKey(resolved)) {
    process.emitWarning(
      `procmeter is already registered with this MeterProvider (naming '${resolved.naming}') with other options; ` +
        'this call shares that registration and its options. Shut the first handle down to register anew.',
      { code: 'PROCMETER_ALREADY_REGISTERED' },
    );
  }
  return handleOn(shared);
}

// What procmeter leaves on a MeterProvider beyond a registration: an SDK
// cannot remove instruments, so one made after it adds to the same storage.
interface ProviderRecord {
  /** The mode of the instruments procmeter made, per naming. */
  readonly modes: Map<Naming, Mode>;
  /** Push mode's last reported values, by instrument name: a later registration goes on from them rather than adding the totals again. */
  readonly pushedValues: Map<string, LastValues>;
  /** The bucket boundaries of the GC histogram procmeter made, per naming: the SDK keeps them for good. */
  readonly gcBuckets: Map<Naming, readonly number[]>;
  /** Observable mode's attribute sets last observed, by instrument name (see createObserver). */
  readonly observedSeries: ObservedSeries;
}

const providerRecords = threadResident(`otel provider records:${thisFile}`, () => new WeakMap<MeterProvider, ProviderRecord>());

function recordOf(provider: MeterProvider): ProviderRecord {
  let record = providerRecords.get(provider);
  if (record === undefined) {
    providerRecords.set(provider, (record = { modes: new Map(), pushedValues: new Map(), gcBuckets: new Map(), observedSeries: new Map() }));
  }
  return record;
}

// Observable and push mode make instruments of the same names but other
// kinds (asynchronous, synchronous), which an SDK keeps side by side: after
// a shutdown(), registering in the other mode on the same provider would
// export every metric twice (and Prometheus refuses a scrape that repeats a
// metric family).
function checkModeUnchanged(record: ProviderRecord, resolved: ResolvedOptions): void {
  const earlier = record.modes.get(resolved.naming);
  if (earlier !== undefined && earlier !== resolved.mode) {
    throw new RangeError(
      `procmeter.registerProcessMetrics(): options.mode is '${resolved.mode}', but procmeter already made '${earlier}' instruments ` +
        `on this MeterProvider (naming '${resolved.naming}'), which it cannot remove; the same metrics in two modes would be exported twice. ` +
        `Register with mode '${earlier}', or with another MeterProvider.`,
    );
  }
}

// The SDK hands a second createHistogram() of the same name the histogram
// it already has, with its first buckets: boundaries asked for after a
// shutdown() would be dropped without a word.
function checkGcBucketsUnchanged(record: ProviderRecord, resolved: ResolvedOptions): void {
  const { gcBuckets } = record;
  const earlier = gcBuckets.get(resolved.naming);
  if (earlier === undefined) {
    gcBuckets.set(resolved.naming, resolved.gcDurationBuckets);
  } else if (earlier.join() !== resolved.gcDurationBuckets.join()) {
    process.emitWarning(
      `procmeter: options.gcDurationBuckets [${resolved.gcDurationBuckets.join(', ')}] is not used: procmeter's GC histogram on this ` +
        `MeterProvider (naming '${resolved.naming}') already has the buckets [${earlier.join(', ')}], which the SDK keeps. ` +
        'Use another MeterProvider for other buckets.',
      { code: 'PROCMETER_GC_BUCKETS_KEPT' },
    );
  }
}

// Only what the mode uses is asked for: an API older than 1.9 has no createGauge().
const METER_METHODS: Record<Mode, readonly string[]> = {
  observable: ['createHistogram', 'createObservableCounter', 'createObservableUpDownCounter', 'createObservableGauge', 'addBatchObservableCallback', 'removeBatchObservableCallback'],
  push: ['createHistogram', 'createCounter', 'createUpDownCounter', 'createGauge'],
};

/** procmeter's meter on `provider`, checked to be one before anything is made with it. */
function checkedMeter(provider: MeterProvider, resolved: ResolvedOptions): Meter {
  const source = resolved.meterProvider === undefined ? 'the global MeterProvider' : 'options.meterProvider';
  if (typeof provider?.getMeter !== 'function') {
    throw new TypeError(`procmeter.registerProcessMetrics(): ${source} must be an OpenTelemetry MeterProvider (with getMeter()); got ${describeValue(provider)}`);
  }
  const meter = procmeterMeter(provider) as unknown as Record<string, unknown> | undefined;
  const missing = METER_METHODS[resolved.mode].filter((name) => typeof meter?.[name] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(
      `procmeter.registerProcessMetrics(): ${source}.getMeter() must return an OpenTelemetry Meter; what it returned has no ${missing.join(', ')}`,
    );
  }
  return meter as unknown as Meter;
}

function handleOn(shared: SharedRegistration): ProcessMetricsHandle {
  shared.handles += 1;
  const { handle } = shared;
  let released = false;
  return {
    naming: handle.naming,
    mode: handle.mode,
    get reportsProcessMetrics() {
      return !released && handle.reportsProcessMetrics;
    },
    update: () => {
      if (!released) handle.update();
    },
    countRequest: () => {
      if (!released) handle.countRequest();
    },
    middleware: () => {
      const middleware = handle.middleware();
      return (request, response, next) => (released ? next?.() : middleware(request, response, next));
    },
    shutdown() {
      if (released) return;
      released = true;
      shared.handles -= 1;
      // The registration goes on for the other handles, but this one's
      // owner may shut the provider down next (the zero-code start does):
      // what the last handle's shutdown would do first, a reading with the
      // GC pauses it counts recorded outside any collection, so that the
      // provider's last export has them too.
      if (shared.handles > 0) {
        handle.handOnCounted();
        return;
      }
      shared.forget();
      handle.shutdown();
    },
  };
}

/**
 * Whether `meter` is the API's no-op meter, which the API hands out while no
 * SDK is registered (compared by class, not by name, which a bundler may
 * have changed).
 */
export function isNoopMeter(api: OtelApi, meter: Meter): boolean {
  return meter instanceof api.createNoopMeter().constructor;
}

/** procmeter's meter on `provider` (the SDK hands out the same one every time). */
export function procmeterMeter(provider: MeterProvider): Meter {
  return provider.getMeter(METER_NAME, packageVersion);
}

// What a registration holds beyond its instruments (the process-metrics
// claim, the event-loop histogram, the GC pause sink): given back by its
// shutdown(), or at once when a MeterProvider of the application's throws
// while the instruments are made, so that a failed registration does not
// keep the claim from other threads for good.
type Held = (() => void)[];

function releaseHeld(held: Held): void {
  for (const release of held.splice(0).reverse()) release();
}

// `record` is undefined for the API's no-op meter.
function createRegistration(
  resolved: ResolvedOptions,
  api: OtelApi,
  meter: Meter,
  record: ProviderRecord | undefined,
  waitingReadings: Set<WaitingReading> | undefined,
): Registration {
  const held: Held = [];
  try {
    return buildRegistration(resolved, api, meter, record, waitingReadings, held);
  } catch (error) {
    releaseHeld(held);
    throw error;
  }
}

function buildRegistration(
  resolved: ResolvedOptions,
  api: OtelApi,
  meter: Meter,
  record: ProviderRecord | undefined,
  waitingReadings: Set<WaitingReading> | undefined,
  held: Held,
): Registration {
  const catalog = catalogFor(resolved.naming, resolved.eventLoopDelayStddev);
  const groups = resolved.metricGroups;
  // On the API's no-op meter (passed as options.meterProvider: without that
  // option a registration waits for an SDK's provider, see
  // awaiting-provider.ts) nothing is ever exported. Such a registration takes
  // nothing others would miss: neither the process claim nor GC pauses (in
  // push mode its updates and timer run regardless), and it keeps no
  // event-loop histogram running for nothing.
  const exported = record !== undefined;
  // Process-wide instruments exist in every thread's registration that has
  // the process group; only the one holding the claim at a collection
  // reports them. A registration is in the running at its first collection
  // or update, not before: one whose collections never come must not keep
  // the others from reporting.
  const claim = groups.has('process') && exported ? claimProcessMetrics() : undefined;
  if (claim) held.push(() => claim.release());
  let ownsProcess = false;
  const specs = catalog.metrics.filter((s) => groups.has(s.group));
  const eventLoop =
    groups.has('eventLoop') && exported ? new EventLoopMonitor(resolved.eventLoopDelayResolutionMs, resolved.eventLoopDelayStddev) : undefined;
  if (eventLoop) held.push(() => eventLoop.stop());
  eventLoop?.probeLagFromNextTurn(); // so the first collection has a lag to report
  // Only the process, gc and heap groups report from the snapshot. Without
  // them a collection reads neither procfs nor V8's statistics: the snapshot
  // stays all NaN, read by no instrument, and hands no GC pauses on (its
  // counts would release pauses other registrations must wait for).
  const readsSnapshot = groups.has('process') || groups.has('gc') || groups.has('heap');
  const snapshot = createSnapshot();
  // A source that fails is left out of this reading; the others report.
  // (collect() never throws: what it cannot read is NaN.)
  const read = (): Reading => {
    const snapshotRead = readsSnapshot ? collect(snapshot) : snapshot;
    const resources = groups.has('resources') ? readingOrUndefined('reading the active resources', readActiveResources) : undefined;
    // Last: it starts a new delay window, which a failure of the reads
    // before it would otherwise throw away unreported.
    const eventLoopRead = eventLoop && readingOrUndefined('reading the event loop', () => eventLoop.read());
    return { snapshot: snapshotRead, resources, eventLoop: eventLoopRead, nowSeconds: Date.now() / 1000 };
  };

  if (groups.has('gc')) {
    if (record) checkGcBucketsUnchanged(record, resolved);
    const spec = catalog.gcDuration;
    const histogram: Histogram = meter.createHistogram(spec.name, {
      description: spec.description,
      unit: spec.unit,
      advice: { explicitBucketBoundaries: [...resolved.gcDurationBuckets] },
    });
    const attributesByKind = spec.attributesByKind.map((a) => withThread(a, false));
    if (exported) held.push(addPauseSink(holdingDuringCollections((kind, seconds) => histogram.record(seconds, attributesByKind[kind]))));
  }

  let stopped = false;
  // shutdown() called during a collection or update (by an instrument of
  // the application's MeterProvider that calls back, say) stops once that
  // reading is done: giving back the process claim and the GC pause sink in
  // the middle of it would let another thread report the process for the
  // same reading, and lose the pauses whose GCs it counted.
  let reading = false;
  let stopWhenRead: (() => void) | undefined;
  // One collection or update in either mode: reads once, hands the reading
  // to `report`, then the GC pauses its counts include. Re-entrant or
  // concurrent calls return at once: the reading under way reports the
  // current values, and nothing is ever added twice.
  const readAndReport = (what: string, report: (current: Reading) => void): void => {
    if (stopped || reading) return;
    reading = true;
    try {
      // The lag probe (a setImmediate round trip) started at the previous
      // reading is reported; waiting for a new one would hold up the whole
      // collection by an event-loop turn.
      void eventLoop?.probeLag();
      ownsProcess = claim?.tryOwn() ?? false;
      const current = read();
      report(current);
      if (readsSnapshot) deliverPauses(current.snapshot);
    } catch (error) {
      debug('%s failed: %o', what, error);
    } finally {
      reading = false;
      const stop = stopWhenRead;
      stopWhenRead = undefined;
      stop?.();
    }
  };

  // The handle's shape in both modes; reportsProcessMetrics follows the claim.
  const handle = (methods: Pick<Registration, 'update' | 'countRequest' | 'middleware' | 'shutdown' | 'handOnCounted'>): Registration => ({
    naming: resolved.naming,
    mode: resolved.mode,
    get reportsProcessMetrics() {
      return ownsProcess && !stopped; // shutdown() gave the claim back
    },
    ...methods,
  });

  if (resolved.mode === 'observable') {
    const observer = createObserver(meter, api, specs, withThread, record?.observedSeries);
    // shutdown()'s own reading, observed by the provider's next collections
    // (its flush or shutdown, say) until the callback is gone: what grew
    // since the last collection is not lost when procmeter is shut down
    // before the provider.
    let lastReading: { reading: Reading; processWide: boolean } | undefined;
    // The metric groups it still hands on (see WaitingReading).
    const groupsLeft = new Set<MetricGroup>(groups);
    const callback: BatchObservableCallback = (result: BatchObservableResult) => {
      if (stopped) {
        // Process-wide only if no other thread holds them now. Observed by
        // every collection until the removal runs (several readers collect
        // one after the other).
        if (lastReading) {
          const processWide = lastReading.processWide && groupsLeft.has('process') && (claim?.lastReport() ?? false);
          observer.observe(result, lastReading.reading, processWide, groupsLeft);
        }
        removeCallbackSoon();
        return;
      }
      // Also without the gc group: its reading hands pauses on to the other
      // registrations' histograms, one of which may be on this provider.
      collectionStarted();
      readAndReport('collection', (current) => observer.observe(result, current, ownsProcess));
    };
    const waiting: WaitingReading = {
      narrow(groupsReadAnew) {
        for (const group of groupsReadAnew) groupsLeft.delete(group as MetricGroup);
        if (groupsLeft.size === 0) removeCallbackSoon();
      },
    };
    // Never from inside a collection: the SDK is going through its list of
    // callbacks, and removing one there would skip the next one's.
    let removal: NodeJS.Immediate | undefined;
    const removeCallbackSoon = () => {
      removal ??= setImmediate(() => {
        lastReading = undefined;
        waitingReadings?.delete(waiting);
        try {
          meter.removeBatchObservableCallback(callback, observer.observables);
        } catch (error) {
          debug('removing the callback failed: %o', error);
        }
      }).unref();
    };
    const stop = () => {
      stopped = true;
      releaseHeld(held);
    };
    meter.addBatchObservableCallback(callback, observer.observables);
    const handOnPauses = () => {
      try {
        recordHeldPauses();
        if (groups.has('gc') && exported) deliverPauses(collect(snapshot));
      } catch (error) {
        debug('handing on GC pauses failed: %o', error);
      }
    };
    return handle({
      // Records the GC pauses counted so far, outside any collection, so that
      // a flush or shutdown of the provider that follows exports them all (a
      // collection's own are recorded just after it: see pause-histogram.ts);
      // and puts the registration in the running for the process metrics, as
      // a collection would (the zero-code start does so at once, for the main
      // thread's endpoint, which may be scraped only later).
      update() {
        if (stopped || reading) return;
        try {
          ownsProcess = claim?.tryOwn() ?? false;
        } catch (error) {
          debug('update failed: %o', error);
        }
        handOnPauses();
      },
      handOnCounted: () => {
        if (!stopped && !reading) handOnPauses();
      },
      countRequest() {},
      middleware: () => passThrough,
      shutdown() {
        if (stopped) return;
        if (reading) {
          // The collection under way is the last one (the pauses it holds
          // are recorded on the next turn).
          stopWhenRead = () => {
            stop();
            removeCallbackSoon();
          };
          return;
        }
        // Outside a collection: a last reading, with the GC pauses it counts
        // (and those held since the last collection) recorded now.
        try {
          ownsProcess = claim?.tryOwn() ?? false;
          recordHeldPauses();
          const last = read();
          if (readsSnapshot) deliverPauses(last.snapshot);
          lastReading = { reading: last, processWide: ownsProcess };
        } catch (error) {
          debug('the last reading failed: %o', error);
        }
        stop();
        if (waitingReadings) waitingReadings.add(waiting);
        else removeCallbackSoon(); // the API's no-op meter never collects
      },
    });
  }

  const pushedValues = record?.pushedValues ?? new Map<string, LastValues>();
  const pushers = specs.map((spec) => {
    let last = pushedValues.get(spec.name);
    if (last === undefined) pushedValues.set(spec.name, (last = new Map()));
    return { name: spec.name, processWide: spec.processWide, push: createPusher(meter, api, spec, withThread, last) };
  });
  const update = () => {
    // An update is made outside the collections (unless called back from
    // one): what a collection of another registration holds goes in first.
    if (!reading && !stopped) recordHeldPauses();
    readAndReport('update', (current) => {
      for (const pusher of pushers) {
        if (!ownsProcess && pusher.processWide) continue;
        // One instrument that fails (a MeterProvider of the application's
        // that throws) costs neither the others nor the GC pauses.
        try {
          pusher.push(current);
        } catch (error) {
          debug('updating %s failed: %o', pusher.name, error);
        }
      }
    });
  };
  const timer = resolved.pushIntervalMs > 0 ? setInterval(update, resolved.pushIntervalMs) : undefined;
  timer?.unref();
  let requests = 0;
  const countRequest = () => {
    if (resolved.pushEveryRequests === 0) return;
    requests += 1;
    if (requests >= resolved.pushEveryRequests) {
      requests = 0;
      update();
    }
  };
  return handle({
    update,
    handOnCounted: update,
    countRequest,
    middleware: () => (_request, _response, next) => {
      countRequest();
      next?.();
    },
    shutdown() {
      if (stopped) return;
      const stop = () => {
        stopped = true;
        if (timer) clearInterval(timer);
        releaseHeld(held);
      };
      // Called during an update, that update is the last one. Otherwise a
      // last update, so that what grew since the previous one reaches the
      // SDK before procmeter stops: the provider's own final export (its
      // shutdown) then carries it.
      if (reading) {
        stopWhenRead = stop;
      } else {
        update();
        stop();
      }
    },
  });
}

function readingOrUndefined<T>(what: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    debug('%s failed: %o', what, error);
    return undefined;
  }
}

function passThrough(_request: unknown, _response: unknown, next?: (error?: unknown) => void): void {
  next?.();
}

export type WithThread = (attributes: Attributes | undefined, processWide: boolean) => Attributes | undefined;
/** One instrument's last pushed value per attribute set (the catalog's and withThread's cached objects). */
export type LastValues = Map<Attributes | undefined, number>;

/** No thread attribute: for the main thread, and for tests. */
export const mainThreadAttributes: WithThread = (attributes) => attributes;

// Per-isolate series from a worker carry its thread id. The merged attribute
// objects are made once per thread, so that push mode's last values, which
// outlive registrations, are keyed on the same objects in all of them.
const withThread: WithThread = threadResident(`otel thread attributes:${thisFile}`, threadAttributes);

function threadAttributes(): WithThread {
  if (onMainThread()) return mainThreadAttributes;
  const thread = Object.freeze({ 'thread.id': currentThreadId() });
  const merged = new WeakMap<Attributes, Attributes>();
  return (attributes, processWide) => {
    if (processWide) return attributes;
    if (attributes === undefined) return thread;
    let result = merged.get(attributes);
    if (result === undefined) {
      result = Object.freeze({ ...attributes, ...thread });
      merged.set(attributes, result);
    }
    return result;
  };
}

function instrumentOptions(api: OtelApi, spec: MetricSpec) {
  return { description: spec.description, unit: spec.unit, valueType: spec.integer ? api.ValueType.INT : api.ValueType.DOUBLE };
}

/** The attribute sets last observed per instrument name, for metrics whose sets come and go. */
export type ObservedSeries = Map<string, Set<Attributes | undefined>>;

/**
 * The asynchronous instruments for `specs`, and how to observe a reading
 * into them. `observedSeries` outlives the registration (it is kept per
 * MeterProvider, as the SDK keeps the instruments).
 */
export function createObserver(
  meter: Meter,
  api: OtelApi,
  specs: readonly MetricSpec[],
  withThread: WithThread,
  observedSeries: ObservedSeries = new Map(),
) {
  const observables = specs.map((s) => createObservable(meter, api, s));
  // For metrics whose attribute sets come and go (resource types), the sets
  // observed at the previous collection. The SDK (JS, cumulative) exports a
  // set's last observed value for as long as the process runs, so a set not
  // observed any more is observed as 0 once: a type whose last timer is gone
  // reads 0, as prom-client's gauge does, not the count it had, also when
  // it went while procmeter was shut down and registered again.
  return {
    observables,
    /**
     * Observes `reading`; the process-wide metrics only if `processWide` is
     * true, and only the metric groups in `groups` when given.
     */
    observe(result: BatchObservableResult, reading: Reading, processWide = true, groups?: ReadonlySet<MetricGroup>): void {
      specs.forEach((spec, i) => {
        if ((spec.processWide && !processWide) || (groups && !groups.has(spec.group)) || !sourceRead(spec, reading)) return;
        const observable = observables[i]!;
        try {
          const observed = spec.varyingSeries ? new Set<Attributes | undefined>() : undefined;
          spec.read(reading, (value, attributes) => {
            if (!Number.isFinite(value)) return;
            const key = withThread(attributes, spec.processWide);
            observed?.add(key);
            result.observe(observable, value, key);
          });
          if (observed) {
            for (const key of observedSeries.get(spec.name) ?? []) if (!observed.has(key)) result.observe(observable, 0, key);
            observedSeries.set(spec.name, observed);
          }
        } catch (error) {
          debug('observing %s failed: %o', spec.name, error);
        }
      });
    },
  };
}

/**
 * Records `value` as the last one reported for `key` and adds the difference:
 * recorded first, so that an add() that calls back into an update cannot
 * add it again; put back if add() throws, so that the difference is added
 * by the next update instead of never.
 */
function addFromLast(last: LastValues, key: Attributes | undefined, previous: number | undefined, value: number, add: () => void): void {
  last.set(key, value);
  try {
    add();
  } catch (error) {
    if (previous === undefined) last.delete(key);
    else last.set(key, previous);
    throw error;
  }
}

function createObservable(meter: Meter, api: OtelApi, spec: MetricSpec): Observable {
  const options = instrumentOptions(api, spec);
  switch (spec.kind) {
    case 'counter':
      return meter.createObservableCounter(spec.name, options);
    case 'upDownCounter':
      return meter.createObservableUpDownCounter(spec.name, options);
    case 'gauge':
      return meter.createObservableGauge(spec.name, options);
  }
}

/**
 * A function that brings one synchronous instrument up to date with a
 * reading. Counters get add(current - last reported): the first update
 * reports the whole total; a reading below the last reported one adds
 * nothing (so nothing is ever negative or counted twice). Up-down counters
 * get add(current - last) of either sign. Gauges get record(current), and a
 * series that disappears (a resource type no longer active) is recorded 0.
 */
export function createPusher(
  meter: Meter,
  api: OtelApi,
  spec: MetricSpec,
  withThread: WithThread,
  last: LastValues = new Map(),
): (reading: Reading) => void {
  const options = instrumentOptions(api, spec);
  switch (spec.kind) {
    case 'counter': {
      const counter: Counter = meter.createCounter(spec.name, options);
      return (reading) =>
        spec.read(reading, (value, attributes) => {
          if (!Number.isFinite(value)) return;
          const key = withThread(attributes, spec.processWide);
          const previous = last.get(key);
          // The first update adds the whole total (even 0, so the series
          // exists, as in observable mode); later ones only growth.
          if (previous === undefined ? value < 0 : value <= previous) return;
          addFromLast(last, key, previous, value, () => counter.add(value - (previous ?? 0), key));
        });
    }
    case 'upDownCounter': {
      const counter: UpDownCounter = meter.createUpDownCounter(spec.name, options);
      return (reading) =>
        spec.read(reading, (value, attributes) => {
          if (!Number.isFinite(value)) return;
          const key = withThread(attributes, spec.processWide);
          const previous = last.get(key);
          if (value === previous) return;
          addFromLast(last, key, previous, value, () => counter.add(value - (previous ?? 0), key));
        });
    }
    case 'gauge': {
      const gauge: Gauge = meter.createGauge(spec.name, options);
      if (!spec.varyingSeries) {
        return (reading) =>
          spec.read(reading, (value, attributes) => {
            if (Number.isFinite(value)) gauge.record(value, withThread(attributes, spec.processWide));
          });
      }
      return (reading) => {
        if (!sourceRead(spec, reading)) return;
        const seen = new Set<Attributes | undefined>();
        spec.read(reading, (value, attributes) => {
          if (!Number.isFinite(value)) return;
          const key = withThread(attributes, spec.processWide);
          seen.add(key);
          last.set(key, value);
          gauge.record(value, key);
        });
        for (const key of last.keys()) {
          if (seen.has(key)) continue;
          // Forgotten once recorded: a record() that throws (a MeterProvider
          // of the application's) leaves the series to the next update
          // rather than at its last count for good.
          gauge.record(0, key);
          last.delete(key);
        }
      };
    }
  }
}
