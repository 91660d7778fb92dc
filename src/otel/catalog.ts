// The metric catalog in both namings: for each metric, its instrument, unit,
// group, scope and how its data points come out of one reading. The names
// follow the naming contract (README, "Metrics"): in 'prometheus' naming an
// instrument is named so that both @opentelemetry/exporter-prometheus and
// the Collector's OTLP-to-Prometheus translation end at prom-client's name.
import type { Attributes } from '@opentelemetry/api';

import { GC_KINDS, type GcKind, type Snapshot } from '../generated/layout';
import type { EventLoopReading } from './event-loop';
import type { MetricGroup, Naming } from './options';
import type { ResourceReading } from './resources';
import { processStartTimeSeconds } from './start-time';
import { thisFile } from '../bundling';
import { threadResident } from '../thread-resident';

export type InstrumentKind = 'counter' | 'upDownCounter' | 'gauge';

/** Everything one collection reads, once. */
export interface Reading {
  /** All NaN (not read) unless the process, gc or heap group is on. */
  readonly snapshot: Snapshot;
  /** Present when the eventLoop group is on. */
  readonly eventLoop: EventLoopReading | undefined;
  /** Present when the resources group is on. */
  readonly resources: ResourceReading | undefined;
  /** Unix seconds at the reading. */
  readonly nowSeconds: number;
}

/** Emits one data point; a non-finite value is dropped by the caller. */
export type Emit = (value: number, attributes?: Attributes) => void;

export interface MetricSpec {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly kind: InstrumentKind;
  readonly group: MetricGroup;
  /** True: one series per process. False: per V8 isolate (thread). */
  readonly processWide: boolean;
  /** Whole numbers (exported as integers over OTLP). */
  readonly integer: boolean;
  /** Its attribute sets come and go (e.g. resource types): one that went away is reported as 0 once. */
  readonly varyingSeries: boolean;
  read(reading: Reading, emit: Emit): void;
}

/**
 * False when the source `spec` reads from failed for this reading (it is
 * then undefined): its series, varying ones included, are left as they
 * were rather than reported gone.
 */
export function sourceRead(spec: MetricSpec, reading: Reading): boolean {
  if (spec.group === 'resources') return reading.resources !== undefined;
  if (spec.group === 'eventLoop') return reading.eventLoop !== undefined;
  return true;
}

export interface HistogramSpec {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly group: MetricGroup;
  /** The attributes of a pause of each GC kind (index into GC_KINDS). */
  readonly attributesByKind: readonly Attributes[];
}

export interface Catalog {
  readonly metrics: readonly MetricSpec[];
  readonly gcDuration: HistogramSpec;
}

type SpecInput = Omit<MetricSpec, 'integer' | 'processWide' | 'varyingSeries'> & {
  integer?: boolean;
  varyingSeries?: boolean;
};
const spec = (input: SpecInput): MetricSpec => ({
  integer: false,
  processWide: input.group === 'process',
  varyingSeries: false,
  ...input,
});

// V8's five GC kinds fold into the four kinds prom-client and semantic
// conventions know: minor mark-sweep (only with --minor-ms) is a minor GC.
const GC_KIND_LABEL: Readonly<Record<GcKind, 'minor' | 'major' | 'incremental' | 'weakcb'>> = {
  scavenge: 'minor',
  minorMarkSweep: 'minor',
  markSweepCompact: 'major',
  incrementalMarking: 'incremental',
  processWeakCallbacks: 'weakcb',
};
const GC_LABELS = ['minor', 'major', 'incremental', 'weakcb'] as const;

// Per label, the V8 kinds that map to it (worked out once: a collection
// sums them for every GC metric).
const GC_KINDS_BY_LABEL = GC_LABELS.map((label) => ({ label, kinds: GC_KINDS.filter((kind) => GC_KIND_LABEL[kind] === label) }));

/** Per label, the sum over the V8 kinds that map to it. */
function gcTotals(snapshot: Snapshot, field: 'count' | 'seconds' | 'reclaimedBytes', emit: (label: string, value: number) => void): void {
  for (const { label, kinds } of GC_KINDS_BY_LABEL) {
    let total = 0;
    for (const kind of kinds) total += snapshot.gc[kind][field];
    emit(label, total);
  }
}

// Frozen attribute objects, one per attribute set per thread, shared by
// every catalog: push mode keys the last values it reported on them, and
// those outlive a registration, so a later one, with other options and so
// another catalog, or in this code evaluated again after a hot reload
// (see thread-resident.ts), must find the same objects.
const attributeCaches = threadResident(`otel attribute caches:${thisFile}`, () => new Map<string, Map<string, Attributes>>());

/** The one attribute object of `{ [key]: value }` for each value. */
function attributeCache(key: string) {
  let cache = attributeCaches.get(key);
  if (cache === undefined) attributeCaches.set(key, (cache = new Map()));
  return (value: string): Attributes => {
    let attributes = cache.get(value);
    if (attributes === undefined) {
      attributes = Object.freeze({ [key]: value });
      cache.set(value, attributes);
    }
    return attributes;
  };
}

// prom-client labels a heap space by its name up to '_space'.
const promSpaceName = (name: string): string => {
  const end = name.indexOf('_space');
  return end === -1 ? name : name.slice(0, end);
};

type HeapSpaceField = 'sizeBytes' | 'usedBytes' | 'availableBytes' | 'physicalBytes';

/** One data point per V8 heap space. */
function perHeapSpace(
  name: string,
  description: string,
  kind: InstrumentKind,
  field: HeapSpaceField,
  attributesOf: (spaceName: string) => Attributes,
): MetricSpec {
  // Each space's attributes, looked up once per space name rather than per
  // collection (the prometheus naming's label is cut from the name).
  const attributesBySpace = new Map<string, Attributes>();
  const attributesFor = (spaceName: string): Attributes => {
    let attributes = attributesBySpace.get(spaceName);
    if (attributes === undefined) attributesBySpace.set(spaceName, (attributes = attributesOf(spaceName)));
    return attributes;
  };
  return spec({
    name,
    description,
    unit: 'By',
    kind,
    group: 'heap',
    integer: true,
    read: (r, emit) => {
      for (const space of r.snapshot.heapSpaces) emit(space[field], attributesFor(space.name));
    },
  });
}

/** A gauge of one event-loop statistic, in seconds. */
function eventLoopGauge(name: string, description: string, field: keyof EventLoopReading): MetricSpec {
  return spec({ name, description, unit: 's', kind: 'gauge', group: 'eventLoop', read: (r, emit) => r.eventLoop && emit(r.eventLoop[field]) });
}

const versionAttributes: Attributes = (() => {
  const { version } = process;
  const [major, minor, patch] = version.slice(1).split('.');
  return Object.freeze({ version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' });
})();

function prometheusCatalog(withStddev: boolean): Catalog {
  const kindAttributes = attributeCache('kind');
  const typeAttributes = attributeCache('type');
  const spaceAttributes = attributeCache('space');
  const eventLoop = (field: keyof EventLoopReading, name: string, description: string) => eventLoopGauge(name, description, field);
  const byType = (name: string, description: string, unit: string, pick: (r: ResourceReading) => Map<string, number>) =>
    spec({
      name,
      description,
      unit,
      kind: 'gauge',
      group: 'resources',
      integer: true,
      varyingSeries: true,
      read: (r, emit) => r.resources && pick(r.resources).forEach((count, type) => emit(count, typeAttributes(type))),
    });
  const total = (name: string, description: string, unit: string, pick: (r: ResourceReading) => number) =>
    spec({ name, description, unit, kind: 'gauge', group: 'resources', integer: true, read: (r, emit) => r.resources && emit(pick(r.resources)) });
  const heapSpace = (name: string, description: string, field: HeapSpaceField) =>
    perHeapSpace(name, description, 'gauge', field, (spaceName) => spaceAttributes(promSpaceName(spaceName)));

  const metrics: MetricSpec[] = [
    spec({ name: 'process_cpu_user_seconds', description: 'Total user CPU time spent in seconds.', unit: 's', kind: 'counter', group: 'process', read: (r, emit) => emit(r.snapshot.cpuUserSeconds) }),
    spec({ name: 'process_cpu_system_seconds', description: 'Total system CPU time spent in seconds.', unit: 's', kind: 'counter', group: 'process', read: (r, emit) => emit(r.snapshot.cpuSystemSeconds) }),
    spec({ name: 'process_cpu_seconds', description: 'Total user and system CPU time spent in seconds.', unit: 's', kind: 'counter', group: 'process', read: (r, emit) => emit(r.snapshot.cpuUserSeconds + r.snapshot.cpuSystemSeconds) }),
    spec({ name: 'process_start_time_seconds', description: 'Start time of the process since unix epoch in seconds.', unit: 's', kind: 'gauge', group: 'process', read: (r, emit) => emit(processStartTimeSeconds(r.snapshot.startTimeSeconds)) }),
    spec({ name: 'process_resident_memory_bytes', description: 'Resident memory size in bytes.', unit: 'By', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.residentMemoryBytes) }),
    spec({ name: 'process_virtual_memory_bytes', description: 'Virtual memory size in bytes.', unit: 'By', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.virtualMemoryBytes) }),
    spec({ name: 'process_heap_bytes', description: 'Process heap size in bytes (data and stack segments).', unit: 'By', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.dataBytes) }),
    spec({ name: 'process_open_fds', description: 'Number of open file descriptors.', unit: '{file_descriptor}', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.openFds) }),
    spec({ name: 'process_max_fds', description: 'Maximum number of open file descriptors.', unit: '{file_descriptor}', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.maxFds) }),
    spec({ name: 'process_threads', description: 'Number of OS threads in the process.', unit: '{thread}', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.threads) }),
    spec({
      name: 'process_context_switches',
      description: 'Context switches of the process, by type (voluntary, involuntary).',
      unit: '{context_switch}',
      kind: 'counter',
      group: 'process',
      integer: true,
      read: (r, emit) => {
        emit(r.snapshot.voluntaryContextSwitches, typeAttributes('voluntary'));
        emit(r.snapshot.involuntaryContextSwitches, typeAttributes('involuntary'));
      },
    }),
    spec({
      name: 'process_page_faults',
      description: 'Page faults of the process, by type (minor: no I/O, major: I/O).',
      unit: '{fault}',
      kind: 'counter',
      group: 'process',
      integer: true,
      read: (r, emit) => {
        emit(r.snapshot.minorPageFaults, typeAttributes('minor'));
        emit(r.snapshot.majorPageFaults, typeAttributes('major'));
      },
    }),
    spec({ name: 'process_max_resident_memory_bytes', description: 'Peak resident memory size in bytes.', unit: 'By', kind: 'gauge', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.maxResidentMemoryBytes) }),

    spec({ name: 'nodejs_version_info', description: 'Node.js version info.', unit: '', kind: 'gauge', group: 'runtime', integer: true, read: (_r, emit) => emit(1, versionAttributes) }),

    spec({
      name: 'nodejs_gc_runs',
      description: 'Garbage collections completed, by kind (major, minor, incremental, weakcb).',
      unit: '{gc}',
      kind: 'counter',
      group: 'gc',
      integer: true,
      read: (r, emit) => gcTotals(r.snapshot, 'count', (label, value) => emit(value, kindAttributes(label))),
    }),
    spec({
      name: 'nodejs_gc_reclaimed_bytes',
      description: 'Heap bytes freed by garbage collection (used heap before minus after), by kind.',
      unit: 'By',
      kind: 'counter',
      group: 'gc',
      read: (r, emit) => gcTotals(r.snapshot, 'reclaimedBytes', (label, value) => emit(value, kindAttributes(label))),
    }),
    spec({
      name: 'procmeter_gc_pauses_dropped',
      description: 'GC pauses left out of nodejs_gc_duration_seconds because more arrived between two collections than procmeter keeps.',
      unit: '{pause}',
      kind: 'counter',
      group: 'gc',
      integer: true,
      read: (r, emit) => emit(r.snapshot.gcPausesDropped),
    }),

    spec({ name: 'nodejs_heap_size_total_bytes', description: 'Process heap size from Node.js in bytes.', unit: 'By', kind: 'gauge', group: 'heap', integer: true, read: (r, emit) => emit(r.snapshot.heapTotalBytes) }),
    spec({ name: 'nodejs_heap_size_used_bytes', description: 'Process heap size used from Node.js in bytes.', unit: 'By', kind: 'gauge', group: 'heap', integer: true, read: (r, emit) => emit(r.snapshot.heapUsedBytes) }),
    spec({ name: 'nodejs_external_memory_bytes', description: 'Node.js external memory size in bytes.', unit: 'By', kind: 'gauge', group: 'heap', integer: true, read: (r, emit) => emit(r.snapshot.externalMemoryBytes) }),
    heapSpace('nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', 'sizeBytes'),
    heapSpace('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', 'usedBytes'),
    heapSpace('nodejs_heap_space_size_available_bytes', 'Process heap space size available from Node.js in bytes.', 'availableBytes'),

    eventLoop('lagSeconds', 'nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.'),
    eventLoop('minSeconds', 'nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.'),
    eventLoop('maxSeconds', 'nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.'),
    eventLoop('meanSeconds', 'nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.'),
    ...(withStddev ? [eventLoop('stddevSeconds', 'nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.')] : []),
    eventLoop('p50Seconds', 'nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.'),
    eventLoop('p90Seconds', 'nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.'),
    eventLoop('p99Seconds', 'nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.'),
    spec({
      name: 'nodejs_eventloop_utilization_ratio',
      description: 'Share of time the event loop was busy since the previous collection.',
      unit: '1',
      kind: 'gauge',
      group: 'eventLoop',
      read: (r, emit) => r.eventLoop && emit(r.eventLoop.utilization),
    }),

    byType('nodejs_active_resources', 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.', '{resource}', (x) => x.resources),
    total('nodejs_active_resources_total', 'Total number of active resources.', '{resource}', (x) => x.resourcesTotal),
    byType('nodejs_active_handles', 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.', '{handle}', (x) => x.handles),
    total('nodejs_active_handles_total', 'Total number of active handles.', '{handle}', (x) => x.handlesTotal),
    byType('nodejs_active_requests', 'Number of active libuv requests grouped by request type. Every request type is C++ class name.', '{request}', (x) => x.requests),
    total('nodejs_active_requests_total', 'Total number of active requests.', '{request}', (x) => x.requestsTotal),
  ];
  return {
    metrics,
    gcDuration: {
      name: 'nodejs_gc_duration_seconds',
      description: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
      unit: 's',
      group: 'gc',
      attributesByKind: GC_KINDS.map((kind) => kindAttributes(GC_KIND_LABEL[kind])),
    },
  };
}

function semconvCatalog(withStddev: boolean): Catalog {
  const cpuMode = attributeCache('cpu.mode');
  const switchType = attributeCache('process.context_switch.type');
  const faultType = attributeCache('system.paging.fault.type');
  const gcType = attributeCache('v8js.gc.type');
  const spaceName = attributeCache('v8js.heap.space.name');
  const resourceType = attributeCache('v8js.resource.type');
  const loopState = attributeCache('nodejs.eventloop.state');
  const delay = (field: keyof EventLoopReading, statistic: string) =>
    eventLoopGauge(`nodejs.eventloop.delay.${statistic}`, `Event loop ${statistic} delay since the previous collection.`, field);
  const heapSpace = (name: string, description: string, field: HeapSpaceField) => perHeapSpace(name, description, 'upDownCounter', field, spaceName);

  const metrics: MetricSpec[] = [
    spec({
      name: 'process.cpu.time',
      description: 'Total CPU seconds broken down by different CPU modes.',
      unit: 's',
      kind: 'counter',
      group: 'process',
      read: (r, emit) => {
        emit(r.snapshot.cpuUserSeconds, cpuMode('user'));
        emit(r.snapshot.cpuSystemSeconds, cpuMode('system'));
      },
    }),
    spec({ name: 'process.memory.usage', description: 'The amount of physical memory in use.', unit: 'By', kind: 'upDownCounter', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.residentMemoryBytes) }),
    spec({ name: 'process.memory.virtual', description: 'The amount of committed virtual memory.', unit: 'By', kind: 'upDownCounter', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.virtualMemoryBytes) }),
    spec({ name: 'process.unix.file_descriptor.count', description: 'Number of unix file descriptors in use by the process.', unit: '{file_descriptor}', kind: 'upDownCounter', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.openFds) }),
    spec({
      name: 'process.unix.file_descriptor.limit',
      description: 'Soft limit on the file descriptors the process may open (RLIMIT_NOFILE). Defined by procmeter: semantic conventions have no such metric.',
      unit: '{file_descriptor}',
      kind: 'upDownCounter',
      group: 'process',
      integer: true,
      read: (r, emit) => emit(r.snapshot.maxFds),
    }),
    spec({ name: 'process.thread.count', description: 'Process threads count.', unit: '{thread}', kind: 'upDownCounter', group: 'process', integer: true, read: (r, emit) => emit(r.snapshot.threads) }),
    spec({
      name: 'process.context_switches',
      description: 'Number of times the process has been context switched.',
      unit: '{context_switch}',
      kind: 'counter',
      group: 'process',
      integer: true,
      read: (r, emit) => {
        emit(r.snapshot.voluntaryContextSwitches, switchType('voluntary'));
        emit(r.snapshot.involuntaryContextSwitches, switchType('involuntary'));
      },
    }),
    spec({
      name: 'process.paging.faults',
      description: 'Number of page faults the process has made.',
      unit: '{fault}',
      kind: 'counter',
      group: 'process',
      integer: true,
      read: (r, emit) => {
        emit(r.snapshot.minorPageFaults, faultType('minor'));
        emit(r.snapshot.majorPageFaults, faultType('major'));
      },
    }),
    spec({ name: 'process.uptime', description: 'The time the process has been running.', unit: 's', kind: 'gauge', group: 'process', read: (r, emit) => emit(r.nowSeconds - processStartTimeSeconds(r.snapshot.startTimeSeconds)) }),

    spec({
      name: 'v8js.gc.reclaimed',
      description: 'Heap bytes freed by garbage collection (used heap before minus after). Defined by procmeter: semantic conventions have no such metric.',
      unit: 'By',
      kind: 'counter',
      group: 'gc',
      read: (r, emit) => gcTotals(r.snapshot, 'reclaimedBytes', (label, value) => emit(value, gcType(label))),
    }),
    spec({
      name: 'procmeter.gc.pause.dropped',
      description: 'GC pauses left out of v8js.gc.duration because more arrived between two collections than procmeter keeps.',
      unit: '{pause}',
      kind: 'counter',
      group: 'gc',
      integer: true,
      read: (r, emit) => emit(r.snapshot.gcPausesDropped),
    }),

    heapSpace('v8js.memory.heap.used', 'Heap Memory size allocated.', 'usedBytes'),
    heapSpace('v8js.memory.heap.space.size', 'Total heap memory size pre-allocated for a heap space.', 'sizeBytes'),
    heapSpace('v8js.memory.heap.space.available_size', 'Heap space available size.', 'availableBytes'),
    heapSpace('v8js.memory.heap.space.physical_size', 'Committed size of a heap space.', 'physicalBytes'),

    delay('minSeconds', 'min'),
    delay('maxSeconds', 'max'),
    delay('meanSeconds', 'mean'),
    ...(withStddev ? [delay('stddevSeconds', 'stddev')] : []),
    delay('p50Seconds', 'p50'),
    delay('p90Seconds', 'p90'),
    delay('p99Seconds', 'p99'),
    spec({
      name: 'nodejs.eventloop.utilization',
      description: 'Event loop utilization since the previous collection.',
      unit: '1',
      kind: 'gauge',
      group: 'eventLoop',
      read: (r, emit) => r.eventLoop && emit(r.eventLoop.utilization),
    }),
    spec({
      name: 'nodejs.eventloop.time',
      description: 'Cumulative duration of time the event loop has been in each state.',
      unit: 's',
      kind: 'counter',
      group: 'eventLoop',
      read: (r, emit) => {
        if (!r.eventLoop) return;
        emit(r.eventLoop.activeSeconds, loopState('active'));
        emit(r.eventLoop.idleSeconds, loopState('idle'));
      },
    }),
    spec({
      name: 'v8js.resource.active',
      description: 'Active resources that are currently keeping the event loop alive.',
      unit: '{resource}',
      kind: 'gauge',
      group: 'resources',
      integer: true,
      varyingSeries: true,
      read: (r, emit) => r.resources && r.resources.resources.forEach((count, type) => emit(count, resourceType(type))),
    }),
  ];
  return {
    metrics,
    gcDuration: {
      name: 'v8js.gc.duration',
      description: 'Garbage collection duration.',
      unit: 's',
      group: 'gc',
      attributesByKind: GC_KINDS.map((kind) => gcType(GC_KIND_LABEL[kind])),
    },
  };
}

// One catalog per naming and option per thread, made on first use (and
// shared with this code evaluated again: its specs hold attribute objects).
const catalogs = threadResident(`otel catalogs:${thisFile}`, () => new Map<string, Catalog>());

export function catalogFor(naming: Naming, withStddev: boolean): Catalog {
  const key = `${naming}:${withStddev}`;
  let catalog = catalogs.get(key);
  if (catalog === undefined) {
    catalog = naming === 'prometheus' ? prometheusCatalog(withStddev) : semconvCatalog(withStddev);
    catalogs.set(key, catalog);
  }
  return catalog;
}
