// What npm packs of a clone. A git dependency is installed from a pack of
// its clone, made after its `prepare` ran there (the build in place), with
// package.json's `files`: the addon it built must be in it, and be used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runNode } from '../helpers/child.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));

test("a pack of the built clone (what a git dependency's install gets) carries the addon built in place, and loads it", () => {
  const work = mkdtempSync(join(tmpdir(), 'procmeter-pack-'));
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 }));
    const paths = packed.files.map((file) => file.path);
    for (const binary of ['build/Release/procmeter_core.node', 'build/Release/procmeter_v8.node']) assert.ok(paths.includes(binary), `${binary} packed`);
    execFileSync('tar', ['xzf', join(work, packed.filename), '-C', work]);
    // A clone has no prebuilds (they are not committed).
    const installed = join(work, 'package');
    rmSync(join(installed, 'prebuilds'), { recursive: true, force: true });
    const report = runNode(
      `const procmeter = require(${JSON.stringify(installed)});
       console.log(JSON.stringify({ ...procmeter.loadDiagnostics(), openFds: procmeter.collect().openFds }));`,
      { type: 'commonjs', cwd: work },
    ).json();
    assert.equal(report.implementation, 'native');
    assert.ok(report.openFds > 0);
    // The clone's V8 binary serves the Node it was built with (the test
    // matrix runs other Nodes on this machine's build: there the Node-API
    // binary built beside it serves, and the V8 one is refused for its ABI).
    const builtFor = runNode(`console.log(require(${JSON.stringify(join(root, 'build', 'Release', 'procmeter_v8.node'))}).nodeModuleVersion)`, { type: 'commonjs' }).json();
    if (builtFor === Number(process.versions.modules)) {
      assert.equal(report.gcImplementation, 'native');
      assert.equal(report.binaryPath, join(installed, 'build', 'Release', 'procmeter_v8.node'));
    } else {
      assert.equal(report.binaryPath, join(installed, 'build', 'Release', 'procmeter_core.node'));
      assert.match(report.attempts[0].error, new RegExp(`^built for Node ABI ${builtFor} `));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
