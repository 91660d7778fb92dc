#!/usr/bin/env node
// Checks every prebuilt binary against the oldest Linux that Node's own
// builds run on: no glibc symbol version above 2.28, and no libstdc++
// (GLIBCXX/CXXABI) version above what Node 20's binary itself needs; and
// stripped (no symbol table), as prebuildify should have left them. Reads
// the dynamic symbols' versions and the symbol table with objdump, which
// reads any architecture's ELF files. Exits 1 and says what is wrong
// otherwise.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isMainModule } from './lib/main-module.mjs';

export const FLOORS = { GLIBC: '2.28', GLIBCXX: '3.4.21', CXXABI: '1.3.9' };

const compare = (a, b) => {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  }
  return 0;
};

/** The versions a binary needs, those above the floors, and whether it is stripped. */
export function checkBinary(file) {
  // The symbol table (-t: "no symbols" once stripped), then the dynamic one.
  const text = execFileSync('objdump', ['-t', '-T', '--wide', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const needed = [...new Set([...text.matchAll(/\b((GLIBC|GLIBCXX|CXXABI)_([0-9.]+))\b/g)].map((m) => m[1]))];
  const tooNew = needed.filter((version) => {
    const [, family, number] = /^(GLIBC|GLIBCXX|CXXABI)_(.*)$/.exec(version);
    return compare(number, FLOORS[family]) > 0;
  });
  return { needed, tooNew, stripped: /^SYMBOL TABLE:\s*\nno symbols\s*$/m.test(text) };
}

function main() {
  const root = fileURLToPath(new URL('../prebuilds/', import.meta.url));
  const listing = (dir) => readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory() || entry.name.endsWith('.node'));
  const files = existsSync(root) ? listing(root).flatMap((arch) => listing(join(root, arch.name)).map((f) => join(root, arch.name, f.name))) : [];
  if (files.length === 0) {
    console.error('no prebuilds to check: run npm run prebuild first');
    process.exit(1);
  }
  let failed = false;
  for (const file of files) {
    const { needed, tooNew, stripped } = checkBinary(file);
    const newest = (family) => needed.filter((v) => v.startsWith(`${family}_`)).sort((a, b) => compare(a.split('_')[1], b.split('_')[1])).at(-1) ?? '-';
    const bad = tooNew.length > 0 || !stripped;
    console.log(
      `${bad ? 'FAIL' : 'ok  '} ${file.slice(root.length)}: ${newest('GLIBC')} ${newest('GLIBCXX')} ${newest('CXXABI')}` +
        `${tooNew.length ? `  too new: ${tooNew.join(', ')}` : ''}${stripped ? '' : '  not stripped (a symbol table left in)'}`,
    );
    if (bad) failed = true;
  }
  console.log(`floors: GLIBC_${FLOORS.GLIBC}, GLIBCXX_${FLOORS.GLIBCXX}, CXXABI_${FLOORS.CXXABI} (what Node 20's own Linux binary needs)`);
  process.exit(failed ? 1 : 0);
}

if (isMainModule(import.meta.url)) main();
