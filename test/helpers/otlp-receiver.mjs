// A loopback OTLP/HTTP receiver for tests: accepts JSON exports at
// /v1/metrics (the encoding @opentelemetry/exporter-metrics-otlp-http sends)
// and keeps every decoded request.
import { createServer } from 'node:http';
import { once } from 'node:events';

export async function startOtlpReceiver() {
  const requests = [];
  const waiters = new Set();
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ path: request.url, contentType: request.headers['content-type'], body: JSON.parse(body) });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const check of waiters) check();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    requests,
    /** Resolves when `predicate(requests)` holds; rejects after `timeoutMs`. */
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(requests)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching OTLP export within ${timeoutMs} ms (${requests.length} received)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** All metrics of all exports, flattened: [{ name, unit, kind, dataPoints, resource }]. */
export function otlpMetrics(requests) {
  const out = [];
  for (const { body } of requests) {
    for (const resourceMetrics of body.resourceMetrics ?? []) {
      const resource = Object.fromEntries(
        (resourceMetrics.resource?.attributes ?? []).map(({ key, value }) => [key, value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue]),
      );
      for (const scope of resourceMetrics.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) {
          const kind = ['gauge', 'sum', 'histogram'].find((k) => metric[k]);
          out.push({ name: metric.name, unit: metric.unit, kind, data: metric[kind], scope: scope.scope?.name, resource });
        }
      }
    }
  }
  return out;
}
