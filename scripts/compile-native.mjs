#!/usr/bin/env node
// `npm run compile:native`: node-gyp rebuild against the headers of the Node
// that runs it, so that building never downloads any (this machine, and CI,
// have no network beyond the npm registry). A nodedir set in the npm
// configuration (npm_config_nodedir) wins, if its headers are this Node's
// major; without headers the build stops and says where to get them, rather
// than have node-gyp fetch them from nodejs.org. Extra arguments go to
// node-gyp.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
// <prefix>/include/node/.
const prefix = dirname(dirname(process.execPath));
const configured = process.env.npm_config_nodedir;
const nodedir = configured || (existsSync(join(headersIn(prefix), 'node_api.h')) ? prefix : undefined);
const runningMajor = Number(process.versions.node.split('.')[0]);
if (nodedir === undefined) {
  console.error(
    `compile:native: no Node headers in ${headersIn(prefix)}, and no nodedir configured. ` +
      'Install the headers of this Node (Debian: libnode-dev; Alpine: nodejs-dev; the official tarballs and nvm have them), ' +
      'or set npm_config_nodedir to a directory holding include/node of this Node version.',
  );
  process.exit(1);
}
const major = headersMajor(nodedir);
if (major !== runningMajor) {
  // procmeter_v8 built so would be refused at load (another ABI): say it now.
  console.error(
    `compile:native: the headers in ${headersIn(nodedir)}${configured ? ' (npm_config_nodedir)' : ''} are ` +
      `${major === undefined ? 'unreadable' : `Node ${major}'s`}; this is Node ${process.versions.node}. Point npm_config_nodedir at this Node's.`,
  );
  process.exit(1);
}
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
