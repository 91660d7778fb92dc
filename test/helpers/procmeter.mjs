// Loads procmeter as a user would and checks the implementation under test
// is the one that loaded: a native run that silently fell back must fail.
import assert from 'node:assert/strict';
import * as procmeter from 'procmeter';

export const expectedImplementation = process.env.PROCMETER_TEST_IMPLEMENTATION ?? 'native';

assert.equal(
  procmeter.implementation,
  expectedImplementation,
  `expected the ${expectedImplementation} implementation; load diagnostics: ${JSON.stringify(procmeter.loadDiagnostics())}`,
);

// The full native addon, with GC and heap, is expected whenever native is.
assert.equal(procmeter.gcImplementation, expectedImplementation, `GC and heap: ${JSON.stringify(procmeter.loadDiagnostics())}`);

// Native heap figures that failed their checks are read from the v8 module
// instead: tests comparing them with the v8 module would then compare it
// with itself.
if (expectedImplementation === 'native') {
  assert.equal(procmeter.loadDiagnostics().fallbackReason, undefined, `native run with a fallback part: ${JSON.stringify(procmeter.loadDiagnostics())}`);
}

export const isNative = expectedImplementation === 'native';
export default procmeter;
