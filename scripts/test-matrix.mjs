#!/usr/bin/env node
// `npm run test:matrix`: the whole test suite on every supported Node major
// (20, 22, 24, 26), each a registry build fetched into .cache/node, loading
// the prebuilt procmeter_v8 for its ABI. Rebuilds the x64 prebuilds first
// (about 20 s), so a stale binary is never tested. Options: --node 22,24 to
// run a subset; --reuse-prebuilds to skip the rebuild.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { SUPPORTED_NODE_MAJORS, fetchNode } from './lib/node-dist.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: { node: { type: 'string', default: SUPPORTED_NODE_MAJORS.join(',') }, 'reuse-prebuilds': { type: 'boolean', default: false } },
});
const majors = args.node.split(',').map(Number);

const nodes = majors.map((major) => ({ major, ...fetchNode(major, 'x64') }));
const abiOf = (node) => spawnSync(node.bin, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout.trim();
const missing = nodes.filter((node) => !existsSync(`${root}prebuilds/linux-x64/procmeter_v8.abi${abiOf(node)}.glibc.node`));
if (!args['reuse-prebuilds'] || missing.length > 0 || !existsSync(`${root}prebuilds/linux-x64/procmeter_core.glibc.node`)) {
  const build = spawnSync(process.execPath, [`${root}scripts/prebuild.mjs`, '--arch', 'x64', '--node', SUPPORTED_NODE_MAJORS.join(',')], {
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(1);
}

const results = [];
for (const node of nodes) {
  console.log(`\n##### Node ${node.version}`);
  const started = Date.now();
  const run = spawnSync(node.bin, [`${root}scripts/run-tests.mjs`], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PATH: `${node.dir}/bin:${process.env.PATH}` },
  });
  results.push({ node: node.version, passed: run.status === 0, seconds: Math.round((Date.now() - started) / 1000) });
}
console.log('\n##### test matrix');
for (const r of results) console.log(`Node ${r.node.padEnd(8)} ${r.passed ? 'pass' : 'FAIL'}  (${r.seconds} s)`);
process.exit(results.every((r) => r.passed) ? 0 : 1);
