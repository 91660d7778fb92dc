// Picks the samplers once per module instance (one per thread): the full
// native addon if one fits this Node; else the Node-API addon for the process
// plus JavaScript for GC and heap; else JavaScript for everything. Loading
// never throws.
import { debuglog } from 'node:util';

import { SLOT_COUNT } from './generated/layout';
import { releaseClaimsOfEndedWorkers, sharedClaimCell, type ClaimCell } from './claim-cell';
import { BINARY_PATH_ENV, bindingState, loadNative, type BindingState, type LoadAttempt, type LoadedV8Binding, type NativeBinding } from './native-loader';
import type { ProcessSource, RuntimeSource, Sampler } from './sampler';
import { workerThreads } from './threads';

// The fallbacks are loaded only when used: with the native addon, loading
// procmeter stays cheap (process start-up counts).
type Fallbacks = typeof import('./fallback');
function fallbacks(): Fallbacks {
  return require('./fallback') as Fallbacks;
}

/** Set to 1 to skip the native addons, e.g. to test the fallback. */
export const FORCE_FALLBACK_ENV = 'PROCMETER_FORCE_FALLBACK';
/** Set to 0 to track no GCs at all (no V8 callbacks, no observer; GC fields NaN). */
export const GC_TRACKING_ENV = 'PROCMETER_GC_TRACKING';

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
  /** False when PROCMETER_GC_TRACKING=0 turned GC tracking off. */
  readonly gcTracking: boolean;
}

const debug = debuglog('procmeter');

/**
 * Hands the addon the array it fills when sample() gets no argument. The
 * addon writes into this memory until the thread ends, so it must not be
 * detached: it is untransferable. Where that mark is ignored (Node 21-23's
 * ArrayBuffer.prototype.transfer()), a detached array reads as length 0:
 * sample() then attaches a new one first, so the addon never writes into
 * memory that is no longer procmeter's.
 */
function nativeSlots(binding: NativeBinding): ProcessSource {
  // Kept with the binding, which every evaluation of procmeter in this
  // thread shares (see BindingState): the addon fills one array at a time.
  const state = bindingState(binding);
  if (state.slots === undefined) attachNew(binding, state);
  return {
    get slots() {
      return state.slots!;
    },
    sample() {
      if (state.slots!.length === 0) attachNew(binding, state);
      binding.sample();
    },
  };
}

function attachNew(binding: NativeBinding, state: BindingState): void {
  const slots = untransferableSlots();
  binding.attach(slots);
  state.slots = slots;
}

/**
 * A slice of Node's Buffer pool: Node marks its pool ArrayBuffers
 * untransferable (see markAsUntransferable() in the worker_threads docs), so
 * postMessage() and structuredClone() cannot detach it, and procmeter need
 * not load node:worker_threads for that (1-2 ms of every process start).
 * Buffer.poolSize can be set too small for the pool to be used: then the
 * array is marked by hand. (Node 21-23's ArrayBuffer.prototype.transfer()
 * ignores the mark; there, code that transfers a pooled Buffer's
 * ArrayBuffer breaks every Buffer in that pool, this array included.)
 */
function untransferableSlots(): Float64Array {
  const bytes = SLOT_COUNT * Float64Array.BYTES_PER_ELEMENT;
  const pooled = pooledBytes(bytes);
  const fromPool = pooled !== undefined && pooled.buffer.byteLength > bytes && pooled.byteOffset % Float64Array.BYTES_PER_ELEMENT === 0;
  const slots = fromPool ? new Float64Array(pooled.buffer, pooled.byteOffset, SLOT_COUNT) : new Float64Array(SLOT_COUNT);
  // Where node:worker_threads cannot load, it goes unmarked: one detached
  // by structuredClone() is replaced before the next sample, as above.
  if (!fromPool) workerThreads()?.markAsUntransferable(slots.buffer);
  return slots.fill(NaN);
}

// Buffer.allocUnsafe() throws once its pool has been transferred away.
function pooledBytes(bytes: number): Buffer | undefined {
  try {
    return Buffer.allocUnsafe(bytes);
  } catch {
    return undefined;
  }
}

function fullNativeSampler(loaded: LoadedV8Binding): Sampler {
  const source = nativeSlots(loaded.binding);
  const binding = loaded.binding;
  const drainGcPauses = (out: Float64Array) => binding.drainGcPauses(out);
  const pauseRingCapacity = gcTracking ? binding.pauseRingCapacity : 0;
  if (loaded.heapTrusted) {
    return {
      get slots() {
        return source.slots;
      },
      heapSpaceNames: loaded.heapSpaceNames,
      pauseRingCapacity,
      sample: source.sample,
      drainGcPauses,
    };
  }
  // Native GC tracking, but heap figures from the v8 module (the addon, told
  // to distrust its heap, leaves the bytes reclaimed NaN).
  const heap = new (fallbacks().HeapReader)();
  return {
    get slots() {
      return source.slots;
    },
    heapSpaceNames: heap.heapSpaceNames,
    pauseRingCapacity,
    sample() {
      source.sample();
      heap.sampleInto(source.slots);
    },
    drainGcPauses,
  };
}

function jsRuntimeSource(): RuntimeSource {
  const { HeapReader, GcObserver, threadGcObserver } = fallbacks();
  const heap = new HeapReader();
  const gc = gcTracking ? threadGcObserver() : undefined;
  return {
    heapSpaceNames: heap.heapSpaceNames,
    pauseRingCapacity: gc?.pauseRingCapacity ?? 0,
    sampleInto(slots) {
      heap.sampleInto(slots);
      if (gc) gc.readInto(slots);
      else GcObserver.writeUntracked(slots);
    },
    drainGcPauses: (out) => gc?.drainGcPauses(out) ?? 0,
  };
}

function combine(process: ProcessSource, runtime: RuntimeSource): Sampler {
  return {
    get slots() {
      return process.slots;
    },
    heapSpaceNames: runtime.heapSpaceNames,
    pauseRingCapacity: runtime.pauseRingCapacity,
    sample() {
      process.sample();
      runtime.sampleInto(process.slots);
    },
    drainGcPauses: (out) => runtime.drainGcPauses(out),
  };
}

function choose(): { sampler: Sampler; diagnostics: LoadDiagnostics; binding?: NativeBinding } {
  if (isSet(process.env[FORCE_FALLBACK_ENV])) {
    return {
      sampler: combine(fallbacks().threadProcessSampler(), jsRuntimeSource()),
      diagnostics: diagnosticsOf('fallback', 'fallback', undefined, [], `${FORCE_FALLBACK_ENV} is set`),
    };
  }
  const { full, core, attempts, explicit } = loadNative(gcTracking);
  if (full) {
    const reason = full.heapTrusted ? undefined : 'native heap figures disagreed with process.memoryUsage(); heap read from JavaScript';
    return { sampler: fullNativeSampler(full), diagnostics: diagnosticsOf('native', 'native', full.path, attempts, reason), binding: full.binding };
  }
  if (core) {
    return {
      sampler: combine(nativeSlots(core.binding), jsRuntimeSource()),
      diagnostics: diagnosticsOf(
        'native',
        'fallback',
        core.path,
        attempts,
        core.v8PartUnused !== undefined
          ? `${BINARY_PATH_ENV} names a binary ${core.v8PartUnused}: its process part is used, GC and heap from JavaScript`
          : explicit
            ? `${BINARY_PATH_ENV} names the Node-API-only binary: GC and heap from JavaScript`
            : 'no V8-specific binary fits this Node: GC and heap from JavaScript',
      ),
      binding: core.binding,
    };
  }
  return {
    sampler: combine(fallbacks().threadProcessSampler(), jsRuntimeSource()),
    diagnostics: diagnosticsOf('fallback', 'fallback', undefined, attempts, whyNoBinaryLoaded(attempts)),
  };
}

function whyNoBinaryLoaded(attempts: readonly LoadAttempt[]): string {
  if (!attempts.some((attempt) => attempt.error?.startsWith('ERR_DLOPEN_DISABLED'))) return 'no native binary could be loaded';
  // Node's permission model refuses every addon unless --allow-addons is
  // given; --no-addons refuses them outright, whatever else is given. Only
  // the permission model defines process.permission (typed as always there).
  const flags = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  const noAddons = flags.includes('--no-addons');
  const permissionRefuses = process.permission !== undefined && !flags.includes('--allow-addons');
  if (permissionRefuses && !noAddons) return "Node's permission model disables native addons (run with --allow-addons to use procmeter's)";
  return permissionRefuses
    ? "native addons are disabled in this process (--no-addons, and Node's permission model without --allow-addons)"
    : 'native addons are disabled in this process (--no-addons)';
}

function diagnosticsOf(
  implementation: Implementation,
  gcImplementation: Implementation,
  binaryPath: string | undefined,
  attempts: readonly LoadAttempt[],
  fallbackReason: string | undefined,
): LoadDiagnostics {
  // Frozen: loadDiagnostics() hands out this object itself.
  const frozenAttempts = Object.freeze(attempts.map((attempt) => Object.freeze({ ...attempt })));
  return Object.freeze({ implementation, gcImplementation, binaryPath, attempts: frozenAttempts, fallbackReason, gcTracking });
}

function isOff(value: string | undefined): boolean {
  return value !== undefined && ['0', 'false', 'off', 'no'].includes(value.trim().toLowerCase());
}

// A switch is on when set to anything but empty or one of isOff()'s words.
function isSet(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '' && !isOff(value);
}

const gcTracking = !isOff(process.env[GC_TRACKING_ENV]);
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

let claimCellOfThisEvaluation: ClaimCell | undefined;
/**
 * The process-metrics claim every copy of procmeter shares (with the native
 * addon, handed to it too). Only worker threads started after it is made
 * share it, but making it loads node:worker_threads (about 4-6 ms of a
 * process start on the development VM): the fallback, which loads that
 * module anyway, makes it when procmeter loads, the native addon when the
 * OpenTelemetry layer loads, which loads that module too.
 */
export function processClaimCell(): ClaimCell {
  if (claimCellOfThisEvaluation === undefined) {
    claimCellOfThisEvaluation = sharedClaimCell();
    // The addon keeps a pointer into the first cell it is given (on a
    // SharedArrayBuffer, which cannot be detached): procmeter evaluated
    // again in this thread shares the addon, and finds the same cell.
    try {
      nativeBinding?.shareClaimCell(claimCellOfThisEvaluation.cells);
    } catch (error) {
      // An addon that refuses the cell (a Node whose SharedArrayBuffers it
      // does not recognise) keeps its own claim: copies in other threads
      // then report too, which beats failing to load.
      debug('the addon refused the shared claim cell: %s', error);
    }
  }
  return claimCellOfThisEvaluation;
}
if (!nativeBinding) processClaimCell();
releaseClaimsOfEndedWorkers();
export const diagnostics: LoadDiagnostics = chosen.diagnostics;
