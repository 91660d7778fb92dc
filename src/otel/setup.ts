// The zero-code start (procmeter/register): a MeterProvider and exporters
// from the standard OpenTelemetry environment variables, then procmeter's
// instruments. If the application already registered a global
// MeterProvider, only the instruments are added to it.
import { createServer, type Server } from 'node:http';
import { debuglog } from 'node:util';
import { isMainThread } from 'node:worker_threads';

import { NAMINGS, type Naming } from './options';
import { procmeterMeter, registerProcessMetrics, type ProcessMetricsHandle } from './register-metrics';

const debug = debuglog('procmeter');

export const EXPORTERS = ['otlp', 'prometheus', 'console', 'none'] as const;
export type ExporterName = (typeof EXPORTERS)[number];

export interface EnvironmentSettings {
  /** OTEL_SDK_DISABLED=true: the zero-code start does nothing at all. */
  readonly sdkDisabled: boolean;
  readonly exporters: readonly ExporterName[];
  /** The OTLP protocol asked for: 'http/json' is what is sent (see below). */
  readonly otlpProtocol: 'http/json' | 'http/protobuf';
  readonly naming: Naming;
  readonly exportIntervalMs: number;
  readonly exportTimeoutMs: number;
  /** How long the last flush at exit may hold the process up. */
  readonly exitFlushTimeoutMs: number;
  readonly prometheusHost: string;
  readonly prometheusPort: number;
  /**
   * What was wrong with the variables, one message each, naming the
   * variable and what was done instead (a default, or an exporter left out).
   */
  readonly invalid: readonly string[];
}

/**
 * Reads the environment variables the zero-code start uses. An invalid
 * value does not stop the start: as the OpenTelemetry SDK does with the same
 * variables, it is reported (in `invalid`) and replaced by its default, or,
 * where nothing could stand in for it (an unknown exporter, an OTLP endpoint
 * or protocol procmeter cannot send to), what needed it is left out. A
 * service that already sets a value the SDK tolerates must not fail to
 * start because procmeter was added.
 */
export function settingsFromEnvironment(env: NodeJS.ProcessEnv = process.env): EnvironmentSettings {
  const invalid: string[] = [];
  // The value of `name`, or undefined when it is unset or invalid (then
  // `fallback` is used instead, which the report says).
  const setPositiveInteger = (name: string, fallback: number, max = 2 ** 31 - 1): number | undefined => {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isInteger(value) && value > 0 && value <= max) return value;
    invalid.push(`${name} must be a positive integer up to ${max}; got '${raw}', using ${fallback}`);
    return undefined;
  };
  const positiveInteger = (name: string, fallback: number, max?: number): number => setPositiveInteger(name, fallback, max) ?? fallback;

  // The OpenTelemetry default for OTEL_METRICS_EXPORTER is otlp.
  const exporterList = (env['OTEL_METRICS_EXPORTER'] ?? '').trim() || 'otlp';
  const listed = [...new Set(exporterList.split(',').map((e) => e.trim()).filter(Boolean))];
  const known = listed.filter((exporter): exporter is ExporterName => (EXPORTERS as readonly string[]).includes(exporter));
  for (const exporter of listed.filter((e) => !(known as string[]).includes(e))) {
    invalid.push(`OTEL_METRICS_EXPORTER lists '${exporter}', which is left out; accepted: ${EXPORTERS.join(', ')} (comma-separated)`);
  }
  const rawNaming = (env['PROCMETER_NAMING'] ?? '').trim() || 'prometheus';
  const namingKnown = (NAMINGS as readonly string[]).includes(rawNaming);
  if (!namingKnown) invalid.push(`PROCMETER_NAMING must be one of ${NAMINGS.join(', ')}; got '${rawNaming}', using prometheus`);
  let active = known.includes('none') ? [] : known;
  // Checked only when OTLP is what is exported: these variables are often
  // set for traces (to grpc, say) in a process whose metrics are scraped.
  let otlpProtocol: EnvironmentSettings['otlpProtocol'] = 'http/json';
  if (active.includes('otlp')) {
    // The metrics endpoint, when set, replaces the generic one, which is then
    // left to the other signals and not checked.
    const endpointVariable = env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']?.trim() ? 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    const protocol = readOtlpProtocol(env);
    const problem = checkEndpoint(env, endpointVariable) ?? protocol.problem;
    if (problem === undefined) {
      otlpProtocol = protocol.value;
    } else {
      // Metrics sent where the user did not mean them, or in a form the
      // receiver cannot read, help nobody: no OTLP export at all.
      invalid.push(`${problem}; metrics are not exported over OTLP`);
      active = active.filter((exporter) => exporter !== 'otlp');
    }
  }
  const exportTimeoutMs = setPositiveInteger('OTEL_METRIC_EXPORT_TIMEOUT', DEFAULT_EXPORT_TIMEOUT_MS);
  return {
    sdkDisabled: (env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true',
    exporters: active,
    otlpProtocol,
    naming: namingKnown ? (rawNaming as Naming) : 'prometheus',
    exportIntervalMs: positiveInteger('OTEL_METRIC_EXPORT_INTERVAL', DEFAULT_EXPORT_INTERVAL_MS),
    exportTimeoutMs: exportTimeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS,
    // Exporting at exit to a collector that does not answer would hold the
    // process up through the exporter's retries (8 s and more): at most
    // OTEL_METRIC_EXPORT_TIMEOUT when set, else 2 s.
    exitFlushTimeoutMs: exportTimeoutMs ?? DEFAULT_EXIT_FLUSH_TIMEOUT_MS,
    // A metrics endpoint stays on the loopback interface unless asked.
    prometheusHost: (env['OTEL_EXPORTER_PROMETHEUS_HOST'] ?? '').trim() || '127.0.0.1',
    prometheusPort: positiveInteger('OTEL_EXPORTER_PROMETHEUS_PORT', DEFAULT_PROMETHEUS_PORT, 65535),
    invalid,
  };
}

// The OpenTelemetry defaults, and procmeter's for the flush at exit.
const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
const DEFAULT_PROMETHEUS_PORT = 9464;
const DEFAULT_EXIT_FLUSH_TIMEOUT_MS = 2_000;

// The exporter would take a URL without a scheme ('collector:4318') and
// fail at every export, or ignore one it cannot parse: say so at the start.
function checkEndpoint(env: NodeJS.ProcessEnv, variable: string): string | undefined {
  const raw = env[variable]?.trim();
  if (!raw) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(raw).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol === 'http:' || protocol === 'https:') return undefined;
  return `${variable} must be an http:// or https:// URL (e.g. http://collector:4318); got '${raw}'`;
}

// The OTLP exporter procmeter uses speaks OTLP/HTTP with JSON bodies, which
// the Collector's OTLP receiver accepts as well as protobuf ones. gRPC is
// another wire protocol altogether: JSON sent to a gRPC port would fail at
// every export.
function readOtlpProtocol(env: NodeJS.ProcessEnv): { value: EnvironmentSettings['otlpProtocol']; problem?: string } {
  const variable = env['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL']?.trim() ? 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env[variable] ?? '').trim() || 'http/json';
  if (protocol === 'http/json' || protocol === 'http/protobuf') return { value: protocol };
  return {
    value: 'http/json',
    problem:
      `${variable} is '${protocol}'; the zero-code start exports OTLP over HTTP ('http/json', or 'http/protobuf', sent as JSON). ` +
      'For gRPC, set up the OpenTelemetry SDK with a gRPC exporter and call registerProcessMetrics()',
  };
}

type Api = typeof import('@opentelemetry/api');
type SdkMetrics = typeof import('@opentelemetry/sdk-metrics');
type Resources = typeof import('@opentelemetry/resources');

function requirePeer<T>(name: string, why: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    throw new Error(`procmeter/register: ${why} needs ${name}; install it next to procmeter (npm install ${name})`, { cause: error });
  }
}

export interface ZeroCodeStart {
  readonly settings: EnvironmentSettings;
  /** True if procmeter set up the MeterProvider; false if it joined an existing one. */
  readonly ownsMeterProvider: boolean;
  /** The Prometheus endpoint, once listening. */
  readonly prometheusUrl: Promise<string | undefined>;
  /** procmeter's registration; undefined in a worker thread, where the zero-code start does nothing. */
  readonly metrics: ProcessMetricsHandle | undefined;
  /** Flushes and stops the exporters (when procmeter owns them) and the instruments. */
  shutdown(): Promise<void>;
}

/** A start that joined someone else's MeterProvider, or (in a worker) did nothing. */
function withoutOwnProvider(settings: EnvironmentSettings, metrics: ProcessMetricsHandle | undefined): ZeroCodeStart {
  return { settings, ownsMeterProvider: false, prometheusUrl: Promise.resolve(undefined), metrics, shutdown: async () => metrics?.shutdown() };
}

/**
 * Sets everything up from the environment. Invalid settings are reported as
 * process warnings (code PROCMETER_INVALID_SETTING), in the main thread.
 */
export function startFromEnvironment(env: NodeJS.ProcessEnv = process.env): ZeroCodeStart {
  const settings = settingsFromEnvironment(env);
  if (settings.sdkDisabled || !isMainThread) {
    // Worker threads inherit the -r / --import preload. A provider of their
    // own would mean an exporter per thread (and a second server on the
    // Prometheus port); the main thread's registration reports the process.
    // OTEL_SDK_DISABLED=true asks every OpenTelemetry start to stay out.
    return withoutOwnProvider(settings, undefined);
  }
  for (const message of settings.invalid) process.emitWarning(`procmeter/register: ${message}`, { code: 'PROCMETER_INVALID_SETTING' });
  const api = requirePeer<Api>('@opentelemetry/api', 'the zero-code start');

  const existing = api.metrics.getMeterProvider();
  // With no provider registered, the api package hands out its no-op one,
  // whose meters are its no-op meters (compared by class, not by name, which
  // a bundler may have changed).
  const NoopMeter = api.createNoopMeter().constructor;
  if (!(procmeterMeter(existing) instanceof NoopMeter)) {
    return withoutOwnProvider(settings, registerProcessMetrics({ meterProvider: existing, naming: settings.naming }));
  }

  // OTEL_METRICS_EXPORTER=none: no provider of procmeter's, which would take
  // the global place an application's own SDK set-up comes for later.
  if (settings.exporters.length === 0) return withoutOwnProvider(settings, undefined);

  const sdk = requirePeer<SdkMetrics>('@opentelemetry/sdk-metrics', 'the zero-code start');
  const resources = requirePeer<Resources>('@opentelemetry/resources', 'the zero-code start');
  const readers: InstanceType<SdkMetrics['MetricReader']>[] = [];
  let server: Server | undefined;
  let prometheusUrl: Promise<string | undefined> = Promise.resolve(undefined);

  for (const exporter of settings.exporters) {
    if (exporter === 'otlp') {
      if (settings.otlpProtocol === 'http/protobuf') {
        process.emitWarning(
          'procmeter/register exports OTLP/HTTP with JSON bodies, not protobuf ones; the OpenTelemetry Collector accepts both. ' +
            'To send protobuf, set up the SDK with @opentelemetry/exporter-metrics-otlp-proto and call registerProcessMetrics().',
          { code: 'PROCMETER_OTLP_JSON' },
        );
      }
      const { OTLPMetricExporter } = requirePeer<typeof import('@opentelemetry/exporter-metrics-otlp-http')>(
        '@opentelemetry/exporter-metrics-otlp-http',
        'OTEL_METRICS_EXPORTER=otlp',
      );
      // The exporter reads OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT and headers itself.
      readers.push(
        new sdk.PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter(),
          exportIntervalMillis: settings.exportIntervalMs,
          exportTimeoutMillis: Math.min(settings.exportTimeoutMs, settings.exportIntervalMs),
        }),
      );
    } else if (exporter === 'console') {
      readers.push(
        new sdk.PeriodicExportingMetricReader({
          exporter: new sdk.ConsoleMetricExporter(),
          exportIntervalMillis: settings.exportIntervalMs,
          exportTimeoutMillis: Math.min(settings.exportTimeoutMs, settings.exportIntervalMs),
        }),
      );
    } else if (exporter === 'prometheus') {
      const { PrometheusExporter } = requirePeer<typeof import('@opentelemetry/exporter-prometheus')>(
        '@opentelemetry/exporter-prometheus',
        'OTEL_METRICS_EXPORTER=prometheus',
      );
      // procmeter serves the endpoint itself: bound where configured (the
      // exporter's own default differs between versions) and unref'd, so a
      // program that is otherwise done can still exit.
      const prometheus = new PrometheusExporter({ preventServerStart: true });
      readers.push(prometheus);
      const endpoint = createServer((request, response) => {
        if ((request.url ?? '').split('?')[0] === '/metrics') prometheus.getMetricsRequestHandler(request, response);
        else response.writeHead(404).end('procmeter: metrics are at /metrics\n');
      });
      server = endpoint;
      prometheusUrl = new Promise((resolve) => {
        // Always listened for: a server emits 'error' also after it is up
        // (a failed accept(), out of fds, say), and an 'error' event nobody
        // listens for would end the application.
        endpoint.on('error', (error) => {
          if (endpoint.listening) {
            debug('metrics endpoint error: %o', error);
            return;
          }
          process.emitWarning(
            `procmeter: cannot serve metrics on ${settings.prometheusHost}:${settings.prometheusPort}: ${error.message}`,
            { code: 'PROCMETER_PROMETHEUS_LISTEN' },
          );
          resolve(undefined);
        });
        endpoint.listen(settings.prometheusPort, settings.prometheusHost, () => {
          const address = endpoint.address();
          const port = typeof address === 'object' && address ? address.port : settings.prometheusPort;
          const host = settings.prometheusHost.includes(':') ? `[${settings.prometheusHost}]` : settings.prometheusHost;
          resolve(`http://${host}:${port}/metrics`);
        });
      });
      endpoint.unref();
      // Its connections too: a scraper's idle keep-alive connection (or a
      // load balancer's probe) must not keep an otherwise finished program.
      endpoint.on('connection', (socket) => socket.unref());
    }
  }

  const resource = resources
    .defaultResource()
    .merge(
      resources.resourceFromAttributes({
        'process.pid': process.pid,
        'process.runtime.name': 'nodejs',
        'process.runtime.version': process.versions.node,
        'process.runtime.description': 'Node.js',
      }),
    )
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));

  const provider = new sdk.MeterProvider({ resource, readers });
  if (!api.metrics.setGlobalMeterProvider(provider)) {
    // Someone registered a provider in between: join theirs instead.
    provider.shutdown().catch((error: unknown) => debug('shutting down the unused provider failed: %o', error));
    server?.close();
    return withoutOwnProvider(settings, registerProcessMetrics({ meterProvider: api.metrics.getMeterProvider(), naming: settings.naming }));
  }
  const metrics = registerProcessMetrics({ meterProvider: provider, naming: settings.naming });

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      try {
        // Flushes the periodic readers, with procmeter's callback still
        // registered so the last export has everything.
        await provider.shutdown();
      } catch (error) {
        debug('shutdown failed: %o', error);
      }
      metrics.shutdown();
      server?.close();
    })();
    return stopping;
  };
  return { settings, ownsMeterProvider: true, prometheusUrl, metrics, shutdown };
}

/**
 * Flushes on the way out, for at most `timeoutMs`: when the event loop runs
 * dry (beforeExit) and on SIGTERM. On SIGTERM, if procmeter's handler is the
 * only one, the signal is raised again after the flush so the process ends
 * as it would have; if the application handles the signal, it decides.
 * SIGINT (Ctrl-C) is left alone: a JavaScript handler would hold it until
 * the event loop turns, and an interactive stop should be immediate.
 */
export function flushOnExit(shutdown: () => Promise<void>, timeoutMs: number): void {
  // Resolves true when the flush ended, false when the time ran out.
  const flush = () =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      shutdown()
        .catch((error: unknown) => debug('the flush at exit failed: %o', error))
        .finally(() => {
          clearTimeout(timer);
          resolve(true);
        });
    });
  const onSigterm = () => {
    process.removeListener('beforeExit', onBeforeExit);
    const othersHandleIt = process.listenerCount('SIGTERM') > 0;
    void flush().then(() => {
      if (!othersHandleIt) process.kill(process.pid, 'SIGTERM');
    });
  };
  const onBeforeExit = () => {
    process.removeListener('SIGTERM', onSigterm);
    // The event loop ran dry: if no other beforeExit listener went on to
    // start work of its own, what keeps the process alive past the flush
    // is the exporter's requests (retries to a collector that does not
    // answer), so it ends as it was about to. Otherwise the application's
    // own exit logic decides.
    const alone = process.listenerCount('beforeExit') === 0;
    void flush().then((flushed) => {
      if (!flushed && alone) process.exit();
    });
  };
  process.once('SIGTERM', onSigterm);
  process.once('beforeExit', onBeforeExit);
}
