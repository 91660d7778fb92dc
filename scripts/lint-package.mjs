#!/usr/bin/env node
// `npm run lint:package`: publint and are-the-types-wrong on the tarball as
// it is published (scripts/pack-tarball.mjs), not on the clone.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packTarball } from './pack-tarball.mjs';

const bin = fileURLToPath(new URL('../node_modules/.bin/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'procmeter-lint-'));
try {
  const { path } = packTarball(work);
  execFileSync(`${bin}publint`, ['run', '--strict', path], { stdio: 'inherit' });
  execFileSync(`${bin}attw`, [path], { stdio: 'inherit' });
} finally {
  rmSync(work, { recursive: true, force: true });
}
