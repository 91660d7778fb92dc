// Puts this process in a state with something of everything for the metrics
// to show: a listening server (handles), a timer (resources), and a read
// pending on an empty FIFO (an active libuv request). Returns an async
// function that undoes it all.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, read, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

export async function makeProcessBusy() {
  const fifoDir = mkdtempSync(join(tmpdir(), 'procmeter-busy-'));
  const fifo = join(fifoDir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fifoFd = openSync(fifo, 'r+'); // read-write: opening does not block
  const pendingRead = new Promise((resolve) => read(fifoFd, Buffer.alloc(1), 0, 1, null, resolve));
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const timer = setInterval(() => {}, 1000);
  return async function undo() {
    writeSync(fifoFd, 'x');
    await pendingRead;
    closeSync(fifoFd);
    rmSync(fifoDir, { recursive: true, force: true });
    clearInterval(timer);
    server.close();
  };
}
