// `npm run demo`: a small HTTP service with procmeter, serving its metrics
// at http://127.0.0.1:9464/metrics (no Collector needed), with a little
// self-generated load so the numbers move. With OTEL_METRICS_EXPORTER=otlp
// it pushes to a Collector (OTEL_EXPORTER_OTLP_ENDPOINT) instead.
//
// Environment: DEMO_PORT (service port, default 3000), DEMO_SECONDS (stop
// after this long; default: run until Ctrl-C), plus the OTEL_* variables of
// procmeter/register.
import http from 'node:http';
import { once } from 'node:events';

// Empty counts as unset, as for the OpenTelemetry SDK.
if (!process.env.OTEL_METRICS_EXPORTER?.trim()) process.env.OTEL_METRICS_EXPORTER = 'prometheus';
if (!process.env.OTEL_SERVICE_NAME?.trim()) process.env.OTEL_SERVICE_NAME = 'procmeter-demo';
const { started } = await import('procmeter/register');
const { collect, implementation, gcImplementation } = await import('procmeter');

// The work: JSON over some freshly allocated objects (so GC has things to do).
function handle(request, response) {
  if (request.url === '/work') {
    const items = Array.from({ length: 2_000 + Math.floor(Math.random() * 8_000) }, (_, i) => ({ i, text: `item ${i}` }));
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: items.length, sample: items[7] }));
    return;
  }
  if (request.url === '/snapshot') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(collect()));
    return;
  }
  response.writeHead(404).end('try /work or /snapshot\n');
}

const server = http.createServer(handle);
const servicePort = Number(process.env.DEMO_PORT ?? 3000);
server.listen(servicePort, '127.0.0.1');
try {
  await once(server, 'listening');
} catch (error) {
  console.error(`procmeter demo: cannot serve on 127.0.0.1:${servicePort} (${error.code ?? error.message}); set DEMO_PORT to a free port`);
  process.exit(1);
}
const serviceUrl = `http://127.0.0.1:${server.address().port}`;
const metricsUrl = await started.prometheusUrl;

console.log(`procmeter demo (process sampler: ${implementation}, GC and heap: ${gcImplementation})`);
console.log(`  service:  ${serviceUrl}/work  (and ${serviceUrl}/snapshot for collect())`);
// What was set up, not what was asked for: a port taken or a package
// missing leaves an exporter out (with a warning on stderr).
if (metricsUrl) console.log(`  metrics:  ${metricsUrl}`);
else if (started.pushes) console.log(`  metrics:  pushed (OTEL_METRICS_EXPORTER=${process.env.OTEL_METRICS_EXPORTER})`);
else console.log('  metrics:  not exported (see the warnings on stderr)');
console.log('  load:     about 20 requests per second from this process; Ctrl-C to stop');

// A little load, so the numbers move.
const load = setInterval(() => {
  for (let i = 0; i < 2; i++) fetch(`${serviceUrl}/work`).then((r) => r.arrayBuffer()).catch(() => {});
}, 100);

// The last export is bounded as procmeter/register bounds its own flush at
// exit: a collector that is down or does not answer must not hold up Ctrl-C.
async function stop() {
  clearInterval(load);
  server.close();
  const bound = new Promise((resolve) => setTimeout(resolve, started.settings.exitFlushTimeoutMs).unref());
  await Promise.race([started.shutdown(), bound]);
  process.exit(0);
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
if (process.env.DEMO_SECONDS) setTimeout(stop, Number(process.env.DEMO_SECONDS) * 1000);
