#!/usr/bin/env node
// npm's `prepare` (npm install in a clone, and npm's preparation of a git
// dependency, which runs it in a clone of its own): the TypeScript build,
// which must succeed, then the native build, which may fail where there is
// no compiler or no Node headers. Then it says so loudly and ends well:
// procmeter works on its JavaScript fallback, and an install must not fail
// for want of a compiler. (npm test fails on the fallback, and CI builds
// with npm run compile, which does fail.)
import { spawnSync } from 'node:child_process';

// Not --silent: node-gyp takes npm's log level, and would not say why it failed.
const npm = (script) => spawnSync('npm', ['run', script], { stdio: 'inherit' }).status;

if (npm('compile:ts') !== 0) process.exit(1);
if (npm('compile:native') !== 0) {
  console.error(
    '\nprocmeter: the native addon was not built (see above): procmeter will use its JavaScript fallback.\n' +
      'Building it needs g++, make, python3 and the headers of this Node (see the README, Working on procmeter).\n',
  );
}
