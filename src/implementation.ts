// Picks the samplers once per module instance (one per thread): the full
// native addon if one fits this Node; else the Node-API addon for the process
// plus JavaScript for GC and heap; else JavaScript for everything. Loading
// never throws.
import { debuglog } from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';

import { FallbackProcessSampler } from './fallback/process-sampler';
import { GcObserver } from './fallback/gc-observer';
import { HeapReader } from './fallback/heap-reader';
import { SLOT_COUNT } from './generated/layout';
import { loadNative, type LoadAttempt, type LoadedV8Binding, type NativeBinding } from './native-loader';
import type { ProcessSource, RuntimeSource, Sampler } from './sampler';

/** Set to 1 to skip the native addons, e.g. to test the fallback. */
export const FORCE_FALLBACK_ENV = 'PROCMETER_FORCE_FALLBACK';

export type Implementation = 'native' | 'fallback';

export interface LoadDiagnostics {
  /** Who reads the process figures (CPU, memory, fds, threads, limits). */
  readonly implementation: Implementation;
  /** Who tracks GCs and reads the V8 heap figures. */
  readonly gcImplementation: Implementation;
  /** The binary in use, if any. */
  readonly binaryPath: string | undefined;
  /** Every binary tried, in order, and why each unused one failed. */
  readonly attempts: readonly LoadAttempt[];
  /** Why a fallback is in use, when one is. */
  readonly fallbackReason: string | undefined;
}

const debug = debuglog('procmeter');

/**
 * Hands the addon the array it fills when sample() gets no argument. The
 * addon writes into this memory until the thread ends, so it must never be
 * detached: marking it untransferable stops postMessage() and
 * ArrayBuffer.prototype.transfer() from doing so.
 */
function nativeSlots(binding: NativeBinding): { slots: Float64Array; sample: () => void } {
  const slots = new Float64Array(SLOT_COUNT);
  markAsUntransferable(slots.buffer);
  binding.attach(slots);
  return { slots, sample: () => binding.sample() };
}

function fullNativeSampler(loaded: LoadedV8Binding): Sampler {
  const { slots, sample } = nativeSlots(loaded.binding);
  const binding = loaded.binding;
  const base = { slots, pauseRingCapacity: binding.pauseRingCapacity, drainGcPauses: (out: Float64Array) => binding.drainGcPauses(out) };
  if (loaded.heapTrusted) return { ...base, heapSpaceNames: loaded.heapSpaceNames, sample };
  // Native GC tracking, but heap figures from the v8 module.
  const heap = new HeapReader();
  return {
    ...base,
    heapSpaceNames: heap.heapSpaceNames,
    sample() {
      sample();
      heap.sampleInto(slots);
    },
  };
}

function jsRuntimeSource(): RuntimeSource {
  const heap = new HeapReader();
  const gc = new GcObserver();
  return {
    heapSpaceNames: heap.heapSpaceNames,
    pauseRingCapacity: gc.pauseRingCapacity,
    sampleInto(slots) {
      heap.sampleInto(slots);
      gc.readInto(slots);
    },
    drainGcPauses: (out) => gc.drainGcPauses(out),
  };
}

function combine(process: ProcessSource, runtime: RuntimeSource): Sampler {
  const slots = process.slots;
  return {
    slots,
    heapSpaceNames: runtime.heapSpaceNames,
    pauseRingCapacity: runtime.pauseRingCapacity,
    sample() {
      process.sample();
      runtime.sampleInto(slots);
    },
    drainGcPauses: (out) => runtime.drainGcPauses(out),
  };
}

function choose(): { sampler: Sampler; diagnostics: LoadDiagnostics; binding?: NativeBinding } {
  if (isSet(process.env[FORCE_FALLBACK_ENV])) {
    return {
      sampler: combine(new FallbackProcessSampler(), jsRuntimeSource()),
      diagnostics: diagnosticsOf('fallback', 'fallback', undefined, [], `${FORCE_FALLBACK_ENV} is set`),
    };
  }
  const { full, core, attempts } = loadNative();
  if (full) {
    const reason = full.heapTrusted ? undefined : 'native heap figures disagreed with the v8 module; heap read from JavaScript';
    return { sampler: fullNativeSampler(full), diagnostics: diagnosticsOf('native', 'native', full.path, attempts, reason), binding: full.binding };
  }
  if (core) {
    return {
      sampler: combine(nativeSlots(core.binding), jsRuntimeSource()),
      diagnostics: diagnosticsOf('native', 'fallback', core.path, attempts, 'no V8-specific binary fits this Node: GC and heap from JavaScript'),
      binding: core.binding,
    };
  }
  return {
    sampler: combine(new FallbackProcessSampler(), jsRuntimeSource()),
    diagnostics: diagnosticsOf('fallback', 'fallback', undefined, attempts, 'no native binary could be loaded'),
  };
}

function diagnosticsOf(
  implementation: Implementation,
  gcImplementation: Implementation,
  binaryPath: string | undefined,
  attempts: readonly LoadAttempt[],
  fallbackReason: string | undefined,
): LoadDiagnostics {
  return { implementation, gcImplementation, binaryPath, attempts, fallbackReason };
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

const chosen = choose();
for (const attempt of chosen.diagnostics.attempts) {
  debug('tried %s: %s', attempt.path, attempt.error ?? 'loaded');
}
debug(
  'implementation: %s, GC and heap: %s%s',
  chosen.diagnostics.implementation,
  chosen.diagnostics.gcImplementation,
  chosen.diagnostics.fallbackReason ? ` (${chosen.diagnostics.fallbackReason})` : '',
);

export const sampler: Sampler = chosen.sampler;
/** The native addon in use, if any (for the process-metrics claim). */
export const nativeBinding: NativeBinding | undefined = chosen.binding;
export const diagnostics: LoadDiagnostics = chosen.diagnostics;
