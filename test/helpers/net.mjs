// A TCP port free on the loopback interface right now.
import { createServer } from 'node:net';
import { once } from 'node:events';

export async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
