// A temporary project with procmeter installed as a package: its
// package.json and dist copied, not linked, so that nothing resolves back
// into this repository (its node_modules above all). Removed when the test ends.
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../../', import.meta.url));

/** The project's directory and procmeter's (under its node_modules). */
export function projectWithProcmeter(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const installed = join(dir, 'node_modules', 'procmeter');
  mkdirSync(installed, { recursive: true });
  copyFileSync(join(root, 'package.json'), join(installed, 'package.json'));
  cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true });
  return { dir, installed };
}

/** Makes this repository's @opentelemetry packages the project's. */
export function linkOpenTelemetry(dir) {
  symlinkSync(join(root, 'node_modules', '@opentelemetry'), join(dir, 'node_modules', '@opentelemetry'));
}

/** Copies the binary this Node loaded into `dir`, under its prebuild name (as a deployment copies prebuilds/). */
export function copyLoadedBinary(dir) {
  const procmeter = require('procmeter');
  const { binaryPath } = procmeter.loadDiagnostics();
  if (!binaryPath) throw new Error('the test process itself must run on a native binary');
  const names = procmeter._internals.prebuildNames();
  copyFileSync(binaryPath, join(dir, /procmeter_v8/.test(binaryPath) ? names.v8 : names.core));
}
