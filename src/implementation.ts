// Picks the process sampler once per module instance (one per thread):
// native if a binary loads and checks out, else the JavaScript fallback.
// Loading never throws.
import { debuglog } from 'node:util';

import { FallbackProcessSampler } from './fallback/process-sampler';
import { loadNativeBinding, type LoadAttempt } from './native-loader';
import type { ProcessSampler } from './sampler';

/** Set to 1 to skip the native addon, e.g. to test the fallback. */
export const FORCE_FALLBACK_ENV = 'PROCMETER_FORCE_FALLBACK';

export type Implementation = 'native' | 'fallback';

export interface LoadDiagnostics {
  readonly implementation: Implementation;
  /** The binary in use, when native. */
  readonly binaryPath: string | undefined;
  /** Every binary tried, in order, and why each unused one failed. */
  readonly attempts: readonly LoadAttempt[];
  /** Why the fallback is in use, when it is. */
  readonly fallbackReason: string | undefined;
}

const debug = debuglog('procmeter');

function choose(): { sampler: ProcessSampler; diagnostics: LoadDiagnostics } {
  if (isSet(process.env[FORCE_FALLBACK_ENV])) {
    return fallback([], `${FORCE_FALLBACK_ENV} is set`);
  }
  const result = loadNativeBinding();
  if (result.sampler) {
    return {
      sampler: result.sampler,
      diagnostics: { implementation: 'native', binaryPath: result.path, attempts: result.attempts, fallbackReason: undefined },
    };
  }
  return fallback(result.attempts, 'no native binary could be loaded');
}

function fallback(attempts: readonly LoadAttempt[], reason: string) {
  return {
    sampler: new FallbackProcessSampler(),
    diagnostics: { implementation: 'fallback' as const, binaryPath: undefined, attempts, fallbackReason: reason },
  };
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

const chosen = choose();
for (const attempt of chosen.diagnostics.attempts) {
  debug('tried %s: %s', attempt.path, attempt.error ?? 'loaded');
}
debug('implementation: %s%s', chosen.diagnostics.implementation,
  chosen.diagnostics.fallbackReason ? ` (${chosen.diagnostics.fallbackReason})` : '');

export const processSampler: ProcessSampler = chosen.sampler;
export const diagnostics: LoadDiagnostics = chosen.diagnostics;
