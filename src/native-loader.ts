// Finds and validates the native addon. Every candidate that fails is kept
// with its reason, for loadDiagnostics() and NODE_DEBUG=procmeter.
import * as path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';

import { LAYOUT_SIGNATURE, SLOT_COUNT } from './generated/layout';
import type { ProcessSampler } from './sampler';

/** The surface both native addons export (see native/addon_core.cc). */
export interface NativeBinding {
  readonly layoutSignature: string;
  readonly variant: string;
  /** The addon's own slots; absent where V8 forbids external buffers. */
  readonly slots?: Float64Array;
  /** Fills `slots`, or `buffer` when given. */
  sample(buffer?: Float64Array): void;
  close(): void;
}

export interface LoadAttempt {
  /** Absolute path of the binary tried. */
  readonly path: string;
  /** Why it was not used; absent for the one that loaded. */
  readonly error?: string;
}

export interface NativeLoadResult {
  readonly binding: NativeBinding | undefined;
  readonly sampler: ProcessSampler | undefined;
  readonly path: string | undefined;
  readonly attempts: readonly LoadAttempt[];
}

/** Environment variable naming one binary to load, e.g. for bundled apps. */
export const BINARY_PATH_ENV = 'PROCMETER_BINARY_PATH';

// dist/cjs/native-loader.js -> the package root.
const packageRoot = path.resolve(__dirname, '..', '..');

export function nativeCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const explicit = env[BINARY_PATH_ENV];
  if (explicit) return [path.resolve(explicit)];
  return [path.join(packageRoot, 'build', 'Release', 'procmeter_core.node')];
}

export function loadNativeBinding(candidates: readonly string[] = nativeCandidates()): NativeLoadResult {
  const attempts: LoadAttempt[] = [];
  for (const candidate of candidates) {
    try {
      const binding = validate(require(candidate) as Partial<NativeBinding>);
      attempts.push({ path: candidate });
      return { binding, sampler: samplerOf(binding), path: candidate, attempts };
    } catch (error) {
      attempts.push({ path: candidate, error: describeError(error) });
    }
  }
  return { binding: undefined, sampler: undefined, path: undefined, attempts };
}

/** A ProcessSampler over a binding: its own slots when it exports them. */
function samplerOf(binding: NativeBinding): ProcessSampler {
  const own = binding.slots;
  if (own instanceof Float64Array && own.length === SLOT_COUNT) {
    // The addon writes into this memory for its whole life: never let it be
    // transferred to another thread.
    markAsUntransferable(own.buffer);
    return { slots: own, sample: () => binding.sample() };
  }
  const slots = new Float64Array(SLOT_COUNT);
  return { slots, sample: () => binding.sample(slots) };
}

function validate(candidate: Partial<NativeBinding>): NativeBinding {
  if (typeof candidate.sample !== 'function' || typeof candidate.close !== 'function') {
    throw new Error('not a procmeter binary (no sample/close functions)');
  }
  if (candidate.layoutSignature !== LAYOUT_SIGNATURE) {
    throw new Error('built from a different snapshot layout than this version of procmeter (stale binary)');
  }
  const binding = candidate as NativeBinding;
  binding.sample(new Float64Array(SLOT_COUNT));
  return binding;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const firstLine = error.message.split('\n')[0] ?? '';
    return code ? `${code}: ${firstLine}` : firstLine;
  }
  return String(error);
}
