// Every exported value against ground truth the test reads itself (/proc,
// process.resourceUsage(), perf_hooks, the v8 module, Node's own resource
// accounts), in both namings, in a
// process where related figures differ (peak and current resident memory,
// soft and hard fd limit, external and malloced memory), so that a metric
// fed from a neighbouring field fails. The child
// (test/fixtures/otel-values-child.mjs) reads the truth in callbacks the SDK
// runs right before and right after procmeter's, in the same collection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { runNode } from '../helpers/child.mjs';

const childPath = fileURLToPath(new URL('../fixtures/otel-values-child.mjs', import.meta.url));
const MiB = 1024 * 1024;

function collectedIn(naming) {
  return runNode(`await import(${JSON.stringify(childPath)});`, { nodeArgs: ['--expose-gc'], env: { VALUES_NAMING: naming } }).json();
}

function pointsOf(metrics, name, attributes) {
  return (metrics[name] ?? []).filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value));
}

/** The value of the one point of `name` whose attributes include `attributes`. */
function valueOf(metrics, name, attributes = {}) {
  const points = pointsOf(metrics, name, attributes);
  assert.equal(points.length, 1, `${name} ${JSON.stringify(attributes)}: ${points.length} points`);
  return points[0].value;
}

/** A histogram's count; the SDK exports no series for attributes nothing was recorded with. */
function countOf(metrics, name, attributes) {
  const points = pointsOf(metrics, name, attributes);
  assert.ok(points.length <= 1, `${name} ${JSON.stringify(attributes)}: ${points.length} points`);
  return points[0]?.value.count ?? 0;
}

/** value lies between the truth read before and after the collection, with `slack` either side. */
function assertBracketed(value, before, after, label, slack = 0) {
  const low = Math.min(before, after) - slack;
  const high = Math.max(before, after) + slack;
  assert.ok(value >= low && value <= high, `${label}: ${value} not in [${Math.min(before, after)}, ${Math.max(before, after)}]${slack ? ` +-${slack}` : ''}`);
}

// V8's GCType bits (perf_hooks' detail.kind) behind each kind label of the
// naming contract.
const GC_TYPE_BITS = { minor: [1, 2], major: [4], incremental: [8], weakcb: [16] };
const observedDelta = (from, to, label) => GC_TYPE_BITS[label].reduce((sum, bit) => sum + (to[bit] ?? 0) - (from[bit] ?? 0), 0);

const NAMINGS = {
  prometheus: {
    checks(t0, t1) {
      return [
        ['process_cpu_user_seconds', {}, t0.cpu.user, t1.cpu.user, 1e-6],
        ['process_cpu_system_seconds', {}, t0.cpu.system, t1.cpu.system, 1e-6],
        ['process_cpu_seconds', {}, t0.cpu.user + t0.cpu.system, t1.cpu.user + t1.cpu.system, 1e-6],
        ['process_start_time_seconds', {}, t0.startTimeSeconds, t1.startTimeSeconds, 0.05],
        ['process_resident_memory_bytes', {}, t0.status.VmRSS, t1.status.VmRSS, MiB],
        ['process_virtual_memory_bytes', {}, t0.status.VmSize, t1.status.VmSize, MiB],
        ['process_heap_bytes', {}, t0.status.VmData + t0.status.VmStk, t1.status.VmData + t1.status.VmStk, MiB],
        ['process_max_resident_memory_bytes', {}, t0.status.VmHWM, t1.status.VmHWM, MiB],
        // procmeter leaves out the directory fd it counts with; the listing shows it.
        ['process_open_fds', {}, t0.listedFds - 1, t1.listedFds - 1],
        ['process_max_fds', {}, t0.limits.soft, t1.limits.soft],
        ['process_threads', {}, t0.status.Threads, t1.status.Threads],
        ['process_context_switches', { type: 'voluntary' }, t0.contextSwitches.voluntary, t1.contextSwitches.voluntary],
        ['process_context_switches', { type: 'involuntary' }, t0.contextSwitches.involuntary, t1.contextSwitches.involuntary],
        ['process_page_faults', { type: 'minor' }, t0.pageFaults.minor, t1.pageFaults.minor],
        ['process_page_faults', { type: 'major' }, t0.pageFaults.major, t1.pageFaults.major],
        ['nodejs_active_resources_total', {}, t0.activeResources, t1.activeResources],
        ['nodejs_active_handles_total', {}, t0.activeHandles, t1.activeHandles],
        ['nodejs_active_requests_total', {}, t0.activeRequests, t1.activeRequests],
        ['nodejs_version_info', { version: process.version, major: String(process.versions.node.split('.')[0]) }, 1, 1],
        ['nodejs_heap_size_total_bytes', {}, t0.heap.total_heap_size, t1.heap.total_heap_size],
        ['nodejs_heap_size_used_bytes', {}, t0.heap.used_heap_size, t1.heap.used_heap_size, 512 * 1024],
        ['nodejs_external_memory_bytes', {}, t0.heap.external_memory, t1.heap.external_memory, 64 * 1024],
        ...t0.spaces.flatMap((space, i) => {
          const attributes = { space: space.space_name.replace(/_space$/, '') };
          const other = t1.spaces[i];
          return [
            ['nodejs_heap_space_size_total_bytes', attributes, space.space_size, other.space_size],
            ['nodejs_heap_space_size_used_bytes', attributes, space.space_used_size, other.space_used_size, 512 * 1024],
            ['nodejs_heap_space_size_available_bytes', attributes, space.space_available_size, other.space_available_size, 512 * 1024],
          ];
        }),
      ];
    },
    gcRuns: (m, label) => valueOf(m, 'nodejs_gc_runs', { kind: label }),
    gcPauses: (m, label) => countOf(m, 'nodejs_gc_duration_seconds', { kind: label }),
    gcReclaimed: (m, label) => valueOf(m, 'nodejs_gc_reclaimed_bytes', { kind: label }),
    delay: (m, statistic) => valueOf(m, `nodejs_eventloop_lag_${statistic}_seconds`),
    utilization: (m) => valueOf(m, 'nodejs_eventloop_utilization_ratio'),
  },
  semconv: {
    checks(t0, t1) {
      return [
        ['process.cpu.time', { 'cpu.mode': 'user' }, t0.cpu.user, t1.cpu.user, 1e-6],
        ['process.cpu.time', { 'cpu.mode': 'system' }, t0.cpu.system, t1.cpu.system, 1e-6],
        ['process.memory.usage', {}, t0.status.VmRSS, t1.status.VmRSS, MiB],
        ['process.memory.virtual', {}, t0.status.VmSize, t1.status.VmSize, MiB],
        ['process.unix.file_descriptor.count', {}, t0.listedFds - 1, t1.listedFds - 1],
        ['process.unix.file_descriptor.limit', {}, t0.limits.soft, t1.limits.soft],
        ['process.thread.count', {}, t0.status.Threads, t1.status.Threads],
        ['process.context_switches', { 'process.context_switch.type': 'voluntary' }, t0.contextSwitches.voluntary, t1.contextSwitches.voluntary],
        ['process.context_switches', { 'process.context_switch.type': 'involuntary' }, t0.contextSwitches.involuntary, t1.contextSwitches.involuntary],
        ['process.paging.faults', { 'system.paging.fault.type': 'minor' }, t0.pageFaults.minor, t1.pageFaults.minor],
        ['process.paging.faults', { 'system.paging.fault.type': 'major' }, t0.pageFaults.major, t1.pageFaults.major],
        ['process.uptime', {}, t0.uptimeSeconds, t1.uptimeSeconds, 0.05],
        ['nodejs.eventloop.time', { 'nodejs.eventloop.state': 'active' }, t0.eventLoopSeconds.active, t1.eventLoopSeconds.active, 1e-6],
        ['nodejs.eventloop.time', { 'nodejs.eventloop.state': 'idle' }, t0.eventLoopSeconds.idle, t1.eventLoopSeconds.idle, 1e-6],
        ...t0.spaces.flatMap((space, i) => {
          const attributes = { 'v8js.heap.space.name': space.space_name };
          const other = t1.spaces[i];
          return [
            ['v8js.memory.heap.space.size', attributes, space.space_size, other.space_size],
            ['v8js.memory.heap.used', attributes, space.space_used_size, other.space_used_size, 512 * 1024],
            ['v8js.memory.heap.space.available_size', attributes, space.space_available_size, other.space_available_size, 512 * 1024],
            // Exact: physical and reserved size differ by a page or so, and
            // the quiet window commits none.
            ['v8js.memory.heap.space.physical_size', attributes, space.physical_space_size, other.physical_space_size],
          ];
        }),
      ];
    },
    // Runs are the duration histogram's count in this naming: gcPauses.
    gcRuns: undefined,
    gcPauses: (m, label) => countOf(m, 'v8js.gc.duration', { 'v8js.gc.type': label }),
    gcReclaimed: (m, label) => valueOf(m, 'v8js.gc.reclaimed', { 'v8js.gc.type': label }),
    delay: (m, statistic) => valueOf(m, `nodejs.eventloop.delay.${statistic}`),
    utilization: (m) => valueOf(m, 'nodejs.eventloop.utilization'),
  },
};

for (const [naming, read] of Object.entries(NAMINGS)) {
  test(`${naming} naming: every exported value equals the ground truth read around its collection`, () => {
    const { a, b, c, heapDropBytes, externalBytes } = collectedIn(naming);
    // The set-up made neighbouring figures differ, or the checks could not
    // tell them apart.
    assert.ok(c.before.status.VmHWM - c.before.status.VmRSS > 100 * MiB, `peak ${c.before.status.VmHWM} vs resident ${c.before.status.VmRSS}`);
    assert.ok(c.before.limits.soft < c.before.limits.hard, JSON.stringify(c.before.limits));
    assert.ok(c.before.heap.external_memory >= externalBytes && c.before.heap.malloced_memory < externalBytes / 4);

    // Window C was quiet: the values held still around its collection.
    for (const [name, attributes, before, after, slack] of read.checks(c.before, c.after)) {
      assertBracketed(valueOf(c.metrics, name, attributes), before, after, `${name} ${JSON.stringify(attributes)}`, slack);
    }

    // GCs in window B, by kind: what a PerformanceObserver saw in the same
    // window (within one, for a GC during the collection itself), and the
    // histogram holds one pause per run. The pauses a collection counts are
    // recorded just after it, so window B's show in the histogram at C.
    for (const label of Object.keys(GC_TYPE_BITS)) {
      const pauses = read.gcPauses(c.metrics, label) - read.gcPauses(b.metrics, label);
      const runs = read.gcRuns ? read.gcRuns(b.metrics, label) - read.gcRuns(a.metrics, label) : pauses;
      const observed = observedDelta(a.gcs, b.gcs, label);
      assert.ok(Math.abs(runs - observed) <= 1, `${label}: ${runs} runs exported, ${observed} observed`);
      // (Semconv naming has no runs counter: the histogram's count is it.)
      if (read.gcRuns) assert.equal(pauses, runs, `${label}: pauses recorded vs runs`);
    }
    assert.ok(observedDelta(a.gcs, b.gcs, 'major') >= 3 && observedDelta(a.gcs, b.gcs, 'minor') >= 3, JSON.stringify(b.gcs));
    // What the heap lost when the large array was collected, measured by
    // the child around the forced GC, is in the major GCs' reclaimed bytes.
    const reclaimed = read.gcReclaimed(b.metrics, 'major') - read.gcReclaimed(a.metrics, 'major');
    assert.ok(heapDropBytes > 20 * MiB && reclaimed >= 0.9 * heapDropBytes, `reclaimed ${reclaimed}, the heap dropped ${heapDropBytes}`);

    // Event loop: window B blocked it for 60 ms four times and longer once
    // (the forced GCs);
    // window C was idle, and each collection starts a new window.
    const delay = (metrics, statistic) => read.delay(metrics, statistic);
    assert.ok(delay(b.metrics, 'max') >= 0.1, `window B max delay ${delay(b.metrics, 'max')}`);
    assert.ok(delay(c.metrics, 'max') < 0.1, `window C max delay ${delay(c.metrics, 'max')}: the histogram was not reset`);
    // Each statistic as the test's own histogram (same resolution, read and
    // reset next to procmeter's) has it: its timer runs out of step with
    // procmeter's, so a sample may differ by up to one resolution period.
    for (const window of [b, c]) {
      for (const statistic of ['min', 'max', 'mean', 'p50', 'p90', 'p99']) {
        const ours = delay(window.metrics, statistic);
        const truth = window.before.delaySeconds[statistic];
        assert.ok(Math.abs(ours - truth) <= 0.012, `delay ${statistic}: ${ours} s exported, ${truth} s in the test's own histogram`);
      }
    }
    const { p50, p90, p99 } = b.before.delaySeconds;
    assert.ok(p90 - p50 > 0.03 && p99 - p90 > 0.03, `window B's delays are too alike to tell percentiles apart: ${JSON.stringify(b.before.delaySeconds)}`);
    const busyShare = (from, to) => {
      const active = to.eventLoopSeconds.active - from.eventLoopSeconds.active;
      return active / (active + to.eventLoopSeconds.idle - from.eventLoopSeconds.idle);
    };
    assert.ok(Math.abs(read.utilization(c.metrics) - busyShare(b.after, c.before)) < 0.1, `window C utilization ${read.utilization(c.metrics)} vs ${busyShare(b.after, c.before)}`);
    assert.ok(read.utilization(b.metrics) > 0.5, `window B utilization ${read.utilization(b.metrics)}`);
  });
}

// Two readers on one MeterProvider share one utilization window, reset by
// either's collection. The second reader collecting right after the first
// would get a window of nothing but that collection: near 1 on an idle loop.
test("two readers: a collection right after the other reader's observes no utilization of its own; the time goes to the next window, which reads the idle loop", () => {
  const report = runNode(`
    import { performance } from 'node:perf_hooks';
    import { registerProcessMetrics } from 'procmeter';
    import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
    class Reader extends MetricReader { onForceFlush() { return Promise.resolve(); } onShutdown() { return Promise.resolve(); } }
    const first = new Reader();
    const second = new Reader();
    registerProcessMetrics({ meterProvider: new MeterProvider({ readers: [first, second] }) });
    const utilization = async (reader) => {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'nodejs_eventloop_utilization_ratio');
      return metric?.dataPoints[0]?.value ?? null;
    };
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    await sleep(200);
    const firstReading = await utilization(first);
    const windowStart = performance.eventLoopUtilization();
    const backToBack = await utilization(second);
    await sleep(300);
    const truth = performance.eventLoopUtilization(performance.eventLoopUtilization(), windowStart).utilization;
    const idle = await utilization(second);
    console.log(JSON.stringify({ firstReading, backToBack, idle, truth }));`).json();
  // The SDK hands the second reader the last value observed since its
  // previous collection: the first reader's, when procmeter observes none.
  assert.ok(report.backToBack === null || report.backToBack === report.firstReading, `a window of one collection: ${JSON.stringify(report)}`);
  assert.ok(report.idle < 0.5 && Math.abs(report.idle - report.truth) < 0.1, JSON.stringify(report));
});
