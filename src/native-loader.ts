// Finds and validates the native addon. Every candidate that fails is kept
// with its reason, for loadDiagnostics() and NODE_DEBUG=procmeter.
import * as path from 'node:path';

import { LAYOUT_SIGNATURE, SLOT_COUNT } from './generated/layout';
import type { ProcessSampler } from './sampler';

/** The surface both native addons export (see native/addon_core.cc). */
export interface NativeBinding extends ProcessSampler {
  readonly layoutSignature: string;
  readonly variant: string;
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
      return { binding, path: candidate, attempts };
    } catch (error) {
      attempts.push({ path: candidate, error: describeError(error) });
    }
  }
  return { binding: undefined, path: undefined, attempts };
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
