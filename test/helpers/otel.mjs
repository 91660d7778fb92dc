// A real OpenTelemetry SDK MeterProvider with a reader collected on demand.
import { MeterProvider, MetricReader, DataPointType } from '@opentelemetry/sdk-metrics';

class ManualReader extends MetricReader {
  onForceFlush() {
    return Promise.resolve();
  }
  onShutdown() {
    return Promise.resolve();
  }
}

export function manualProvider() {
  const reader = new ManualReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    reader,
    /** Collects once; returns Map<name, MetricData> of the 'procmeter' scope. */
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length) throw new AggregateError(errors, 'collection errors');
      const metrics = new Map();
      for (const scope of resourceMetrics.scopeMetrics) {
        if (scope.scope.name !== 'procmeter') continue;
        for (const metric of scope.metrics) metrics.set(metric.descriptor.name, metric);
      }
      return metrics;
    },
  };
}

/** 'counter' | 'upDownCounter' | 'gauge' | 'histogram', from an SDK MetricData. */
export function kindOf(metric) {
  switch (metric.dataPointType) {
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'upDownCounter';
    case DataPointType.GAUGE:
      return 'gauge';
    case DataPointType.HISTOGRAM:
      return 'histogram';
    default:
      return `other(${metric.dataPointType})`;
  }
}

/** The value of the single point whose attributes match `attributes`. */
export function pointValue(metric, attributes = {}) {
  const matches = metric.dataPoints.filter((point) =>
    Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
  );
  if (matches.length !== 1) throw new Error(`${metric.descriptor.name}: ${matches.length} points match ${JSON.stringify(attributes)}`);
  return matches[0].value;
}
