// procmeter: process and runtime metrics for Node.js.
import { diagnostics, type Implementation, type LoadDiagnostics } from './implementation';

export { collect, createSnapshot, diff, type Snapshot } from './snapshot';
export { SLOTS, type SlotInfo, type SlotKind, type ProcessSnapshot } from './generated/layout';
export type { Implementation, LoadDiagnostics } from './implementation';
export type { LoadAttempt } from './native-loader';

/** 'native' when the addon loaded, 'fallback' when the JavaScript sampler is in use. */
export const implementation: Implementation = diagnostics.implementation;

/** Why the native addon was not used, if it was not; undefined when native. */
export const loadError: Error | undefined =
  diagnostics.implementation === 'native'
    ? undefined
    : new Error(
        `procmeter is using its JavaScript fallback: ${diagnostics.fallbackReason}` +
          diagnostics.attempts.map((a) => `\n  ${a.path}: ${a.error ?? 'loaded'}`).join(''),
      );

/** What the loader tried and why: for support requests and NODE_DEBUG=procmeter. */
export function loadDiagnostics(): LoadDiagnostics {
  return diagnostics;
}
