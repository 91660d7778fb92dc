// Node.js builds from the npm registry (packages node-linux-<arch>@<major>,
// which hold bin/node and include/node), cached under .cache/node. They give
// the test matrix its Node binaries and the prebuilds their headers; nothing
// is downloaded from anywhere but the registry.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUPPORTED_NODE_MAJORS = [20, 22, 24, 26];
export const cacheDir = fileURLToPath(new URL('../../.cache/node/', import.meta.url));

function latestVersion(packageName, major) {
  const output = execFileSync('npm', ['view', `${packageName}@${major}`, 'version', '--json'], { encoding: 'utf8' });
  const versions = [].concat(JSON.parse(output));
  const numeric = (v) => v.split('.').map(Number);
  versions.sort((a, b) => {
    const [x, y] = [numeric(a), numeric(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  return versions.at(-1);
}

/**
 * The newest Node <major> for `arch` (x64 or arm64), fetched once. Returns
 * { version, dir, bin, includeDir }: `dir` works as node-gyp's --nodedir.
 */
export function fetchNode(major, arch = 'x64') {
  const packageName = `node-linux-${arch}`;
  mkdirSync(cacheDir, { recursive: true });
  // A finished extraction only: not a tarball, nor an interrupted run's .partial.
  const finished = new RegExp(`^${packageName}-${major}\\.\\d+\\.\\d+$`);
  const existing = readdirSync(cacheDir).find((name) => finished.test(name));
  let dir = existing && join(cacheDir, existing);
  if (!dir || !existsSync(join(dir, 'bin', 'node'))) {
    const version = latestVersion(packageName, major);
    dir = join(cacheDir, `${packageName}-${version}`);
    process.stderr.write(`fetching ${packageName}@${version} from the npm registry\n`);
    const tarball = execFileSync('npm', ['pack', `${packageName}@${version}`, '--pack-destination', cacheDir, '--silent'], {
      encoding: 'utf8',
    }).trim().split('\n').at(-1);
    const staging = `${dir}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    execFileSync('tar', ['xzf', join(cacheDir, tarball), '-C', staging, '--strip-components=1']);
    rmSync(join(cacheDir, tarball), { force: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  }
  const version = dir.slice(dir.lastIndexOf('-') + 1);
  return { version, dir, bin: join(dir, 'bin', 'node'), includeDir: join(dir, 'include', 'node') };
}
