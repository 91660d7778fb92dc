// procmeter: process and runtime metrics for Node.js.
import * as layout from './generated/layout';
import { diagnostics, processClaimCell, nativeBinding, sampler, type Implementation, type LoadDiagnostics } from './implementation';
import { prebuildNames } from './native-loader';
import { METRIC_GROUPS, type ProcessMetricsHandle, type ProcessMetricsOptions } from './otel/options';

export { collect, createSnapshot, diff, drainGcPauses, gcPauseRingCapacity } from './snapshot';
export {
  GC_KINDS,
  GC_KIND_DESCRIPTIONS,
  GC_FIELD_INFO,
  HEAP_SPACE_FIELD_INFO,
  SLOTS,
  type FieldInfo,
  type GcKind,
  type GcKindStats,
  type GcStats,
  type HeapSpaceStats,
  type ProcessFields,
  type RuntimeFields,
  type SlotInfo,
  type SlotKind,
  type Snapshot,
} from './generated/layout';
export {
  METRIC_GROUPS,
  type MeterProviderLike,
  type MetricGroup,
  type Mode,
  type Naming,
  type ProcessMetricsHandle,
  type ProcessMetricsOptions,
} from './otel/options';
export type { Implementation, LoadDiagnostics } from './implementation';
export type { LoadAttempt } from './native-loader';

// The exported tables are the ones procmeter reads: frozen, so that a
// caller's sort() or edit cannot change what they tell procmeter and every
// other caller (drainGcPauses() kinds are indexes into GC_KINDS).
for (const table of [layout.GC_KINDS, layout.GC_KIND_DESCRIPTIONS, layout.GC_FIELD_INFO, layout.HEAP_SPACE_FIELD_INFO, layout.SLOTS, METRIC_GROUPS]) {
  deepFreeze(table);
}

function deepFreeze(value: object): void {
  Object.freeze(value);
  for (const nested of Object.values(value)) if (typeof nested === 'object' && nested !== null) deepFreeze(nested);
}

/** 'native' when the addon reads the process, 'fallback' when JavaScript does. */
export const implementation: Implementation = diagnostics.implementation;

/** 'native' when V8 GC callbacks and heap statistics come from the addon. */
export const gcImplementation: Implementation = diagnostics.gcImplementation;

/** Why the native addon is not (fully) used; undefined when it is. */
export const loadError: Error | undefined =
  diagnostics.fallbackReason === undefined
    ? undefined
    : new Error(
        `procmeter: ${diagnostics.fallbackReason}` +
          diagnostics.attempts.map((a) => `\n  ${a.path}: ${a.error ?? 'loaded'}`).join(''),
      );

/** What the loader tried and why: for support requests and NODE_DEBUG=procmeter. */
export function loadDiagnostics(): LoadDiagnostics {
  return diagnostics;
}

/**
 * Registers the process and runtime metrics with an OpenTelemetry
 * MeterProvider (the global one by default); see the README for the options.
 * The OpenTelemetry layer is loaded on the first call, so collect()-only
 * users never pay for it.
 */
export function registerProcessMetrics(options?: ProcessMetricsOptions): ProcessMetricsHandle {
  const otel = require('./otel') as typeof import('./otel');
  return otel.registerProcessMetrics(options);
}

/**
 * @internal Not part of the API, not in the type declarations nor among the
 * ESM entry point's named exports (its default export, module.exports, has
 * it): what the OpenTelemetry layer (a file of its own in the build,
 * loaded on first use) and procmeter's own tests reach of this thread's
 * sampler and addon. It lives in procmeter's entry point so that there is
 * one of each per thread.
 */
export const _internals = { sampler, nativeBinding, processClaimCell, prebuildNames, layout } as const;
