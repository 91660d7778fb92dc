// The PerformanceObserver approach to GC metrics (what prom-client and
// hand-rolled exporters do): count and sum every entry of every batch.
const { PerformanceObserver } = require('node:perf_hooks');

const byKind = new Map();
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = entry.detail.kind;
    const totals = byKind.get(kind) ?? { count: 0, seconds: 0 };
    totals.count += 1;
    totals.seconds += entry.duration / 1000;
    byKind.set(kind, totals);
  }
}).observe({ entryTypes: ['gc'] });
