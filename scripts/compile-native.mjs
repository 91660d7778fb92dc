#!/usr/bin/env node
// `npm run compile:native`: node-gyp rebuild against the headers of the Node
// that runs it, so that building never downloads any (this machine, and CI,
// have no network beyond the npm registry). A nodedir set in the npm
// configuration (npm_config_nodedir) wins if its headers are this Node's
// major; without such headers the build stops and says where to get them,
// rather than have node-gyp fetch them from nodejs.org. Extra arguments go
// to node-gyp.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const headersIn = (dir) => join(dir, 'include', 'node');

// The Node major of the headers under dir (an installation's include/node,
// or a Node source tree's src, both of which node-gyp takes), or undefined.
function headersMajor(dir) {
  for (const header of [join(headersIn(dir), 'node_version.h'), join(dir, 'src', 'node_version.h')]) {
    try {
      return Number(/#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(header, 'utf8'))?.[1]);
    } catch {
      // not this layout
    }
  }
  return undefined;
}

// Official builds and distribution packages alike: <prefix>/bin/node and
// <prefix>/include/node/. A nodedir set in the npm configuration comes
// first, but only with this Node major's headers: one left from another
// Node (npm config outlives upgrades) would build a procmeter_v8 refused
// at load.
const prefix = dirname(dirname(process.execPath));
const configured = process.env.npm_config_nodedir;
const runningMajor = Number(process.versions.node.split('.')[0]);
const candidates = [...(configured ? [{ dir: configured, what: 'npm_config_nodedir' }] : []), { dir: prefix, what: "this Node's prefix" }];
const nodedir = candidates.find(({ dir }) => headersMajor(dir) === runningMajor)?.dir;
if (nodedir === undefined) {
  const found = candidates.map(({ dir, what }) => {
    const major = headersMajor(dir);
    return `${headersIn(dir)} (${what}): ${major === undefined || Number.isNaN(major) ? 'no headers' : `Node ${major}'s headers`}`;
  });
  console.error(
    `compile:native: no headers of Node ${process.versions.node} found; looked in ${found.join('; ')}. ` +
      'Install the headers of this Node (Debian: libnode-dev; Alpine: nodejs-dev; the official tarballs and nvm have them), ' +
      'or set npm_config_nodedir to a directory holding include/node of this Node version.',
  );
  process.exit(1);
}
if (configured && nodedir !== configured) console.error(`compile:native: npm_config_nodedir (${configured}) has another Node's headers or none; using ${headersIn(nodedir)}`);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
// node-gyp reads npm_config_nodedir too, over its --nodedir argument.
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
process.exit(result.status ?? 1);
