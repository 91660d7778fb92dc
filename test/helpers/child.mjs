// Runs a snippet of ESM (or CommonJS) in a fresh Node process (optionally under bash, for
// ulimit) with the implementation under test, and returns its JSON output.
import { spawnSync } from 'node:child_process';

export function runNode(source, { nodeArgs = [], shellPrefix = '', env = {}, timeout = 60_000, type = 'module', cwd } = {}) {
  const nodeCommand = [process.execPath, ...nodeArgs, `--input-type=${type}`, '-e', source];
  const command = shellPrefix ? 'bash' : nodeCommand[0];
  const args = shellPrefix
    ? ['-c', `${shellPrefix} && exec "$@"`, 'bash', ...nodeCommand]
    : nodeCommand.slice(1);
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout,
    cwd,
    env: { ...process.env, ...env },
  });
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
    json() {
      if (result.status !== 0) {
        throw new Error(`child exited ${result.status} ${result.signal ?? ''}\n${result.stderr}`);
      }
      try {
        return JSON.parse(result.stdout);
      } catch (error) {
        throw new Error(`child printed no JSON (${error.message})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      }
    },
  };
}
