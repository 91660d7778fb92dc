#!/usr/bin/env node
// `npm run compile:native`: node-gyp rebuild against the headers of the Node
// that runs it, so that building never downloads any (this machine, and CI,
// have no network beyond the npm registry). A nodedir set in the npm
// configuration (npm_config_nodedir) wins; without either, node-gyp does
// what it always does and fetches the headers for this Node's version.
// Extra arguments go to node-gyp.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// Official builds and distribution packages alike: <prefix>/bin/node and
// <prefix>/include/node/.
const prefix = dirname(dirname(process.execPath));
const ownHeaders = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
const nodedir = process.env.npm_config_nodedir || ownHeaders;
if (nodedir === undefined) {
  console.warn(`compile:native: no headers in ${join(prefix, 'include', 'node')} and no nodedir configured: node-gyp will download them`);
}
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const args = [nodeGyp, 'rebuild', ...(nodedir === undefined ? [] : [`--nodedir=${nodedir}`]), ...process.argv.slice(2)];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
