// The variants both GC-overhead benchmarks run: the GC-heavy workload
// (bench/gc/workload.cjs) with nothing loaded, with procmeter (native GC
// callbacks), with procmeter's GC tracking off (the cost of just loading it),
// with procmeter's fallback (PerformanceObserver), with a plain
// PerformanceObserver('gc') and with @datadog/native-metrics. Preload paths
// are relative to bench/.
export const WORKLOAD = './gc/workload.cjs';
export const WORKLOAD_FLAGS = ['--max-semi-space-size=1', '--trace-gc'];

export const BASELINE = { name: 'baseline: nothing loaded', preload: [] };
export const PROCMETER = { name: 'procmeter (native GC callbacks)', preload: ['-r', 'procmeter'] };
export const TRACKING_OFF = { name: 'procmeter loaded, GC tracking off', preload: ['-r', 'procmeter'], env: { PROCMETER_GC_TRACKING: '0' } };
export const PEERS = [
  { name: 'procmeter fallback (PerformanceObserver)', preload: ['-r', 'procmeter'], env: { PROCMETER_FORCE_FALLBACK: '1' } },
  { name: "PerformanceObserver('gc'), every entry", preload: ['-r', './gc/observer-preload.cjs'] },
  { name: '@datadog/native-metrics', preload: ['-r', './gc/datadog-preload.cjs'] },
];

/** What a run's --trace-gc lines count. */
export function gcCounts(lines) {
  const count = (pattern) => lines.filter((line) => pattern.test(line)).length;
  return { scavenges: count(/ ms: Scavenge/), markCompacts: count(/ ms: (Incremental )?Mark-Compact/) };
}
