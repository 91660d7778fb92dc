// The zero-code start (procmeter/register): a MeterProvider and exporters
// from the standard OpenTelemetry environment variables, then procmeter's
// instruments. If the application already registered a global
// MeterProvider, only the instruments are added to it.
import type { MeterProvider } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { debuglog } from 'node:util';

import { runtimeRequire } from '../bundling';
import { firstLineOf } from '../error-text';
import { onMainThread } from '../threads';
import { NAMINGS, type Naming } from './options';
import { globalApiRecord, isNoopMeter, procmeterMeter, registerProcessMetrics, unusableGlobalProvider, type ProcessMetricsHandle } from './register-metrics';

const debug = debuglog('procmeter');

export const EXPORTERS = ['otlp', 'prometheus', 'console', 'none'] as const;
export type ExporterName = (typeof EXPORTERS)[number];
/** An exporter that exports something ('none' only switches the others off). */
export type ActiveExporter = Exclude<ExporterName, 'none'>;

export interface EnvironmentSettings {
  /** OTEL_SDK_DISABLED=true: the zero-code start does nothing at all. */
  readonly sdkDisabled: boolean;
  readonly exporters: readonly ActiveExporter[];
  /** The OTLP protocol asked for: 'http/json' is what is sent (see below). */
  readonly otlpProtocol: 'http/json' | 'http/protobuf';
  readonly naming: Naming;
  readonly exportIntervalMs: number;
  /** The periodic export's timeout: at most the interval, as the SDK requires. */
  readonly exportTimeoutMs: number;
  /** How long the last flush at exit may hold the process up. */
  readonly exitFlushTimeoutMs: number;
  readonly prometheusHost: string;
  readonly prometheusPort: number;
  /** OTEL_LOG_LEVEL, upper case: the OpenTelemetry diagnostics to print; undefined when unset (none). */
  readonly logLevel: LogLevel | undefined;
  /** What procmeter gives the OTLP exporter beyond what it reads from the environment itself (see otlpExporterConfig()). */
  readonly otlpExporterConfig: { readonly url?: string; readonly timeoutMillis?: number };
  /**
   * What was wrong with the variables, one message each, naming the
   * variable and what was done instead (a default, or an exporter left out):
   * the variables that count however procmeter starts (PROCMETER_NAMING,
   * OTEL_SDK_DISABLED).
   */
  readonly invalid: readonly string[];
  /**
   * The same for the variables only the MeterProvider and exporters
   * procmeter sets up itself read (exporters, OTLP, interval, timeout,
   * Prometheus port, log level): not worth a warning when procmeter joins
   * the application's provider, which never reads them.
   */
  readonly invalidForOwnProvider: readonly string[];
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
  const invalidForOwnProvider: string[] = [];
  // The value of `name`, or undefined when it is unset or invalid (then
  // `fallback` is used instead, which the report says).
  // `used` false: nothing reads the variable in this set-up, so a wrong
  // value is not worth a warning.
  const setPositiveInteger = (name: string, fallback: number, max = 2 ** 31 - 1, used = true): number | undefined => {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isInteger(value) && value > 0 && value <= max) return value;
    if (used) invalidForOwnProvider.push(`${name} must be a positive integer up to ${max}; got '${raw}', using ${fallback}`);
    return undefined;
  };
  const positiveInteger = (name: string, fallback: number, max?: number, used?: boolean): number =>
    setPositiveInteger(name, fallback, max, used) ?? fallback;

  // The OpenTelemetry default for OTEL_METRICS_EXPORTER is otlp. Enum
  // values are case-insensitive (the environment-variable specification).
  const named = (env['OTEL_METRICS_EXPORTER'] ?? '').toLowerCase().split(',').map((e) => e.trim()).filter(Boolean);
  const listed = named.length > 0 ? [...new Set(named)] : ['otlp'];
  const known = listed.filter((exporter): exporter is ExporterName => (EXPORTERS as readonly string[]).includes(exporter));
  for (const exporter of listed.filter((e) => !(known as string[]).includes(e))) {
    invalidForOwnProvider.push(`OTEL_METRICS_EXPORTER lists '${exporter}', which is left out; accepted: ${EXPORTERS.join(', ')} (comma-separated)`);
  }
  const rawNaming = (env['PROCMETER_NAMING'] ?? '').trim().toLowerCase() || 'prometheus';
  const namingKnown = (NAMINGS as readonly string[]).includes(rawNaming);
  if (!namingKnown) invalid.push(`PROCMETER_NAMING must be one of ${NAMINGS.join(', ')}; got '${rawNaming}', using prometheus`);
  let active = known.includes('none') ? [] : known.filter((exporter): exporter is ActiveExporter => exporter !== 'none');
  // Checked only when OTLP is what is exported: these variables are often
  // set for traces (to grpc, say) in a process whose metrics are scraped.
  let otlpProtocol: EnvironmentSettings['otlpProtocol'] = 'http/json';
  if (active.includes('otlp')) {
    // The metrics endpoint, when set, replaces the generic one, which is then
    // left to the other signals and not checked.
    const endpointVariable = env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']?.trim() ? 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    const protocol = readOtlpProtocol(env, invalidForOwnProvider);
    const problem = checkEndpoint(env, endpointVariable) ?? protocol.problem;
    if (problem === undefined) {
      otlpProtocol = protocol.value;
    } else {
      // Metrics sent where the user did not mean them, or in a form the
      // receiver cannot read, help nobody: no OTLP export at all.
      invalidForOwnProvider.push(`${problem}; metrics are not exported over OTLP`);
      active = active.filter((exporter) => exporter !== 'otlp');
    }
  }
  const otlpTimeoutSet = active.includes('otlp') && checkOtlpTimeouts(env, invalidForOwnProvider);
  // A timeout of 0 is no limit (the specification's Timeout type): the
  // periodic export may then take up to the interval, the most the SDK
  // allows; the flush at exit keeps its own bound.
  // Only the exporters read periodically (and flushed at exit) use these.
  const periodic = active.some((exporter) => exporter !== 'prometheus');
  const exportIntervalMs = positiveInteger('OTEL_METRIC_EXPORT_INTERVAL', DEFAULT_EXPORT_INTERVAL_MS, undefined, periodic);
  const rawTimeout = env['OTEL_METRIC_EXPORT_TIMEOUT']?.trim();
  const exportTimeoutMs =
    rawTimeout && Number(rawTimeout) === 0
      ? 0
      : setPositiveInteger('OTEL_METRIC_EXPORT_TIMEOUT', Math.min(DEFAULT_EXPORT_TIMEOUT_MS, exportIntervalMs), undefined, periodic);
  // The periodic reader's: at most the interval, as the SDK requires.
  const readerTimeoutMs = exportTimeoutMs === 0 ? exportIntervalMs : Math.min(exportTimeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS, exportIntervalMs);
  // Only 'true' disables (the specification's Boolean type); anything but
  // 'false' or nothing is likely a mistake worth a word.
  const rawLogLevel = (env['OTEL_LOG_LEVEL'] ?? '').trim().toUpperCase();
  const logLevelKnown = (LOG_LEVELS as readonly string[]).includes(rawLogLevel);
  // As the OpenTelemetry SDK does with a level it does not know.
  if (rawLogLevel && !logLevelKnown) invalidForOwnProvider.push(`OTEL_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got '${rawLogLevel}', using INFO`);
  const sdkDisabled = (env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase();
  if (sdkDisabled !== '' && sdkDisabled !== 'true' && sdkDisabled !== 'false') {
    invalid.push(`OTEL_SDK_DISABLED is '${sdkDisabled}', which counts as false: only 'true' disables`);
  }
  return {
    sdkDisabled: sdkDisabled === 'true',
    exporters: active,
    otlpProtocol,
    naming: namingKnown ? (rawNaming as Naming) : 'prometheus',
    exportIntervalMs,
    exportTimeoutMs: readerTimeoutMs,
    // Exporting at exit to a collector that does not answer would hold the
    // process up through the exporter's retries (8 s and more): at most
    // OTEL_METRIC_EXPORT_TIMEOUT when set (and not 0), else 2 s.
    exitFlushTimeoutMs: exportTimeoutMs || DEFAULT_EXIT_FLUSH_TIMEOUT_MS,
    otlpExporterConfig: otlpExporterConfig(env, exportIntervalMs, readerTimeoutMs, otlpTimeoutSet),
    // A metrics endpoint stays on the loopback interface unless asked.
    prometheusHost: (env['OTEL_EXPORTER_PROMETHEUS_HOST'] ?? '').trim() || '127.0.0.1',
    prometheusPort: positiveInteger('OTEL_EXPORTER_PROMETHEUS_PORT', DEFAULT_PROMETHEUS_PORT, 65535, active.includes('prometheus')),
    logLevel: rawLogLevel ? (logLevelKnown ? (rawLogLevel as LogLevel) : 'INFO') : undefined,
    invalid,
    invalidForOwnProvider,
  };
}

/** OTEL_LOG_LEVEL's values: the names of the API's DiagLogLevel. */
const LOG_LEVELS = ['NONE', 'ERROR', 'WARN', 'INFO', 'DEBUG', 'VERBOSE', 'ALL'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

// The OpenTelemetry defaults, and procmeter's for the flush at exit.
const DEFAULT_OTLP_TIMEOUT_MS = 10_000;
const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
const DEFAULT_PROMETHEUS_PORT = 9464;
const DEFAULT_EXIT_FLUSH_TIMEOUT_MS = 2_000;

/**
 * The OTLP exporter reads its endpoint and timeout from the environment
 * itself, but:
 * - it does not trim the endpoint: with a space around it the URL does not
 *   parse, and it silently sends to its default (localhost:4318) instead;
 *   procmeter hands it the trimmed URL (the generic endpoint with
 *   v1/metrics appended, as the exporter would);
 * - its own request timeout (10 s, retries included) does not follow the
 *   export interval: with a shorter interval and the collector down, the
 *   next export started while the last one still retried, and the requests
 *   kept a finished process alive for good. Unless a timeout is set,
 *   procmeter gives it the reader's export timeout or half the interval,
 *   whichever is shorter, so that an export ends before the next begins.
 */
function otlpExporterConfig(
  env: NodeJS.ProcessEnv,
  exportIntervalMs: number,
  exportTimeoutMs: number,
  timeoutSet: boolean,
): { url?: string; timeoutMillis?: number } {
  const config: { url?: string; timeoutMillis?: number } = {};
  const metricsEndpoint = env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'];
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (metricsEndpoint?.trim()) {
    if (metricsEndpoint !== metricsEndpoint.trim()) config.url = metricsEndpoint.trim();
  } else if (endpoint?.trim() && endpoint !== endpoint.trim()) {
    const base = endpoint.trim();
    config.url = `${base}${base.endsWith('/') ? '' : '/'}v1/metrics`;
  }
  if (!timeoutSet) config.timeoutMillis = Math.max(1, Math.min(DEFAULT_OTLP_TIMEOUT_MS, exportTimeoutMs, Math.floor(exportIntervalMs / 2)));
  return config;
}

// Whether the OTLP exporter will use a request timeout of the user's. It
// takes the metrics one, else the generic one, each only if it is a number
// above 0, and ignores any other value in silence (its diag warning is off
// by default) for its own 10 s default: which, longer than a short export
// interval, brings back the hang otlpExporterConfig() prevents. So an
// invalid one is reported, and procmeter's fitted timeout is used instead.
function checkOtlpTimeouts(env: NodeJS.ProcessEnv, invalid: string[]): boolean {
  // The generic one only where the metrics one does not replace it.
  for (const variable of ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT']) {
    const raw = env[variable]?.trim();
    if (!raw) continue;
    const milliseconds = Number(raw);
    if (Number.isFinite(milliseconds) && milliseconds > 0) return true;
    invalid.push(`${variable} must be a number of milliseconds above 0 (the OTLP exporter takes no other, 0 for no limit neither); got '${raw}', which it ignores`);
  }
  return false;
}

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
// every export. A value that is no protocol at all is reported and ignored,
// as the specification asks of unknown enum values: the generic variable, or
// the default, applies instead.
function readOtlpProtocol(env: NodeJS.ProcessEnv, invalid: string[]): { value: EnvironmentSettings['otlpProtocol']; problem?: string } {
  for (const variable of ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = (env[variable] ?? '').trim().toLowerCase();
    if (protocol === '') continue;
    if (protocol === 'http/json' || protocol === 'http/protobuf') return { value: protocol };
    if (protocol === 'grpc') {
      return {
        value: 'http/json',
        problem:
          `${variable} is 'grpc'; the zero-code start exports OTLP over HTTP ('http/json', or 'http/protobuf', sent as JSON). ` +
          'For gRPC, set up the OpenTelemetry SDK with a gRPC exporter and call registerProcessMetrics()',
      };
    }
    invalid.push(`${variable} is '${protocol}', not one of grpc, http/protobuf, http/json; ignored`);
  }
  return { value: 'http/json' };
}

type Api = typeof import('@opentelemetry/api');
type SdkMetrics = typeof import('@opentelemetry/sdk-metrics');
type Resources = typeof import('@opentelemetry/resources');
type Reader = InstanceType<SdkMetrics['MetricReader']>;

function warn(message: string, code: string): void {
  process.emitWarning(`procmeter/register: ${message}`, { code });
}

/**
 * The peer package `name`, or undefined (with a warning saying what is left
 * out and how to install it): the peers are optional, and a preload that
 * cannot find one must not stop the application it was added to.
 */
function loadPeer<T>(name: string, leftOut: string): T | undefined {
  try {
    return runtimeRequire(name) as T;
  } catch (error) {
    warn(`${leftOut}: it needs ${name}, which could not be loaded (npm install ${name}): ${firstLineOf(error)}`, 'PROCMETER_MISSING_PEER');
    return undefined;
  }
}

export interface ZeroCodeStart {
  readonly settings: EnvironmentSettings;
  /** True if procmeter set up the MeterProvider; false if it joined an existing one. */
  readonly ownsMeterProvider: boolean;
  /** The Prometheus endpoint, once listening. */
  readonly prometheusUrl: Promise<string | undefined>;
  /** True if one of procmeter's own readers pushes (OTLP, console): it has something to flush at exit. */
  readonly pushes: boolean;
  /**
   * procmeter's registration; undefined where the zero-code start set
   * nothing up (a worker thread, OTEL_SDK_DISABLED, no usable exporter, or a
   * missing peer package).
   */
  readonly metrics: ProcessMetricsHandle | undefined;
  /** Flushes and stops the exporters (when procmeter owns them) and the instruments. */
  shutdown(): Promise<void>;
  /** Exports what there is now (when procmeter owns the exporters), and goes on. */
  flush(): Promise<void>;
}

/** Whether a diag logger is registered with the OpenTelemetry API (any copy of it). */
function diagLoggerSet(): boolean {
  const registry = (globalThis as Record<symbol, { diag?: unknown } | undefined>)[Symbol.for('opentelemetry.js.api.1')];
  return registry?.diag !== undefined;
}

/** npm, npx, yarn, pnpm or corepack: their bin names and CLI files (Yarn 2+ runs a project's .yarn/releases/yarn-<version>.cjs). */
const PACKAGE_MANAGER = /(?:^|[\\/])(?:(?:npm|npx|npm-cli|npx-cli|yarn|yarnpkg|pnpm|pnpx|corepack)(?:\.[cm]?js)?|\.yarn[\\/]releases[\\/]yarn-[^\\/]+\.[cm]?js)$/;

function isPackageManager(mainScript: string | undefined): boolean {
  return mainScript !== undefined && PACKAGE_MANAGER.test(mainScript);
}

/** A start that joined someone else's MeterProvider, or did nothing. */
function withoutOwnProvider(settings: EnvironmentSettings, metrics: ProcessMetricsHandle | undefined): ZeroCodeStart {
  return {
    settings,
    ownsMeterProvider: false,
    prometheusUrl: Promise.resolve(undefined),
    pushes: false,
    metrics,
    shutdown: async () => metrics?.shutdown(),
    flush: async () => metrics?.update(),
  };
}

/**
 * Sets everything up from the environment. Nothing here stops the
 * application: invalid settings, missing peer packages and peers that fail
 * (an SDK version procmeter does not support, say) are reported as process
 * warnings (codes PROCMETER_*), in the main thread, and the
 * application runs on without what could not be set up.
 */
export function startFromEnvironment(env: NodeJS.ProcessEnv = process.env): ZeroCodeStart {
  const settings = settingsFromEnvironment(env);
  if (isPackageManager(process.argv[1])) {
    // NODE_OPTIONS='--import procmeter/register' npm start: npm is a Node
    // process too, and comes first; set up there, it would take the
    // Prometheus port from the application and export npm's own metrics.
    debug('not started in a package manager (%s)', process.argv[1]);
    return withoutOwnProvider(settings, undefined);
  }
  if (settings.sdkDisabled || !onMainThread()) {
    // Worker threads inherit the -r / --import preload. A provider of their
    // own would mean an exporter per thread (and a second server on the
    // Prometheus port); the main thread's registration reports the process.
    // OTEL_SDK_DISABLED=true asks every OpenTelemetry start to stay out.
    return withoutOwnProvider(settings, undefined);
  }
  for (const message of settings.invalid) warn(message, 'PROCMETER_INVALID_SETTING');
  const api = loadPeer<Api>('@opentelemetry/api', 'no metrics are exported');
  if (!api) return withoutOwnProvider(settings, undefined);
  try {
    return startWithApi(settings, api);
  } catch (error) {
    warn(`no metrics are exported: setting up OpenTelemetry failed: ${firstLineOf(error)}`, 'PROCMETER_START_FAILED');
    debug('the zero-code start failed: %o', error);
    return withoutOwnProvider(settings, undefined);
  }
}

/**
 * The main thread's registration reports the process metrics: it claims
 * them now, before a worker's registration that collects before the first
 * scrape of the endpoint (or the first export) could.
 */
function registerClaimingProcess(meterProvider: MeterProvider | undefined, settings: EnvironmentSettings): ProcessMetricsHandle {
  const metrics = registerProcessMetrics(meterProvider ? { meterProvider, naming: settings.naming } : { naming: settings.naming });
  metrics.update();
  return metrics;
}

function startWithApi(settings: EnvironmentSettings, api: Api): ZeroCodeStart {
  const existing = api.metrics.getMeterProvider();
  // With no provider registered, the api package hands out its no-op one.
  if (!isNoopMeter(api, procmeterMeter(existing))) return withoutOwnProvider(settings, registerClaimingProcess(existing, settings));
  // The application's SDK registered its provider through an older copy of
  // the API, which procmeter's copy does not hand out: a provider of
  // procmeter's could not take the global place either. Waiting for a
  // usable global one, as registerProcessMetrics() does, says why
  // (PROCMETER_PROVIDER_UNUSABLE) instead of exporting nothing in silence.
  if (unusableGlobalProvider(api) !== undefined) return withoutOwnProvider(settings, registerClaimingProcess(undefined, settings));
  for (const message of settings.invalidForOwnProvider) warn(message, 'PROCMETER_INVALID_SETTING');

  // OTEL_METRICS_EXPORTER=none: no provider of procmeter's, which would take
  // the global place an application's own SDK set-up comes for later.
  if (settings.exporters.length === 0) return withoutOwnProvider(settings, undefined);

  // The diagnostics of the SDK procmeter sets up (a setting an exporter
  // refuses, an export that fails), printed as the OpenTelemetry Node SDK
  // prints them; a diag logger the application (or another preload) set
  // already is left in place. Set before the provider is made, for what the
  // exporters say then; taken back if procmeter ends up with no provider.
  const ownLoggerLevel = diagLoggerSet() ? undefined : settings.logLevel;
  if (ownLoggerLevel !== undefined) api.diag.setLogger(new api.DiagConsoleLogger(), { logLevel: api.DiagLogLevel[ownLoggerLevel] });
  let start: ZeroCodeStart | undefined;
  try {
    start = startOwnProvider(settings, api);
  } finally {
    if (ownLoggerLevel !== undefined && !start?.ownsMeterProvider) api.diag.disable();
  }
  return start;
}

function startOwnProvider(settings: EnvironmentSettings, api: Api): ZeroCodeStart {
  const sdk = loadPeer<SdkMetrics>('@opentelemetry/sdk-metrics', 'no metrics are exported');
  const resources = sdk && loadPeer<Resources>('@opentelemetry/resources', 'no metrics are exported');
  if (!sdk || !resources) return withoutOwnProvider(settings, undefined);

  const made = createProvider(settings, sdk, resources);
  // Every exporter asked for is missing its package: as with none, the
  // global place stays free.
  if (!made) return withoutOwnProvider(settings, undefined);
  const { provider, prometheus, pushes } = made;

  if (!api.metrics.setGlobalMeterProvider(provider)) {
    const someoneRegistered = !isNoopMeter(api, procmeterMeter(api.metrics.getMeterProvider())) || unusableGlobalProvider(api) !== undefined;
    if (someoneRegistered) {
      // Someone registered a provider in between: join theirs instead (once
      // the API hands it out: not one registered through an older copy).
      provider.shutdown().catch((error: unknown) => debug('shutting down the unused provider failed: %o', error));
      return withoutOwnProvider(settings, registerClaimingProcess(undefined, settings));
    }
    // No MeterProvider anywhere, but the API's global place is another
    // version's (a tracing set-up through an older @opentelemetry/api),
    // which takes none from procmeter's copy: procmeter's metrics still go
    // out, through its provider kept to itself.
    warn(
      `the global MeterProvider cannot be set: @opentelemetry/api ${String(globalApiRecord()?.version)} holds the OpenTelemetry API's global place, ` +
        'and takes none from the copy procmeter loads; procmeter exports its own metrics, but meters the application takes from the global API get no provider ' +
        '(install one version of @opentelemetry/api: npm ls @opentelemetry/api)',
      'PROCMETER_PROVIDER_NOT_GLOBAL',
    );
  }
  const metrics = registerClaimingProcess(provider, settings);
  const endpoint = prometheus && serveMetrics(settings, prometheus);

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      // procmeter's last reading first (with every GC pause it counts),
      // which the provider's own shutdown then exports as it flushes the
      // periodic readers.
      metrics.shutdown();
      try {
        await provider.shutdown();
      } catch (error) {
        debug('shutdown failed: %o', error);
      }
      endpoint?.server.close();
    })();
    return stopping;
  };
  const flush = async () => {
    try {
      metrics.update(); // push mode: what grew since the last update
      await provider.forceFlush();
    } catch (error) {
      debug('the flush failed: %o', error);
    }
  };
  return { settings, ownsMeterProvider: true, prometheusUrl: endpoint?.url ?? Promise.resolve(undefined), pushes, metrics, shutdown, flush };
}

type PrometheusExporter = InstanceType<typeof import('@opentelemetry/exporter-prometheus').PrometheusExporter>;

/**
 * The MeterProvider with a reader per exporter whose package loads, or
 * undefined if none does. A peer that loads but does not work as procmeter
 * expects throws, with whatever it set up stopped first.
 */
function createProvider(settings: EnvironmentSettings, sdk: SdkMetrics, resources: Resources) {
  const readers: Reader[] = [];
  let prometheus: PrometheusExporter | undefined;
  try {
    for (const exporter of settings.exporters) {
      if (exporter === 'prometheus') {
        prometheus = prometheusReader();
        if (prometheus) readers.push(prometheus);
      } else {
        const reader = periodicReader(settings, sdk, exporter);
        if (reader) readers.push(reader);
      }
    }
    if (readers.length === 0) return undefined;
    // Every reader but the Prometheus exporter pushes.
    const pushes = readers.length > (prometheus ? 1 : 0);
    return { provider: new sdk.MeterProvider({ resource: processResource(resources), readers }), prometheus, pushes };
  } catch (error) {
    for (const reader of readers) reader.shutdown().catch((cause: unknown) => debug('stopping an unused reader failed: %o', cause));
    throw error;
  }
}

/** A periodic reader for the OTLP or console exporter, or undefined if its package is missing. */
function periodicReader(settings: EnvironmentSettings, sdk: SdkMetrics, exporter: 'otlp' | 'console'): Reader | undefined {
  const options = {
    exportIntervalMillis: settings.exportIntervalMs,
    exportTimeoutMillis: settings.exportTimeoutMs,
  };
  if (exporter === 'console') return new sdk.PeriodicExportingMetricReader({ exporter: new sdk.ConsoleMetricExporter(), ...options });
  const otlp = loadPeer<typeof import('@opentelemetry/exporter-metrics-otlp-http')>(
    '@opentelemetry/exporter-metrics-otlp-http',
    'OTEL_METRICS_EXPORTER=otlp is left out',
  );
  if (!otlp) return undefined;
  if (settings.otlpProtocol === 'http/protobuf') {
    warn(
      'OTLP/HTTP is exported with JSON bodies, not protobuf ones; the OpenTelemetry Collector accepts both. ' +
        'To send protobuf, set up the SDK with @opentelemetry/exporter-metrics-otlp-proto and call registerProcessMetrics().',
      'PROCMETER_OTLP_JSON',
    );
  }
  // The exporter reads OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT, headers and
  // timeout itself; what procmeter adds is in otlpExporterConfig().
  return new sdk.PeriodicExportingMetricReader({ exporter: new otlp.OTLPMetricExporter({ ...settings.otlpExporterConfig }), ...options });
}

/**
 * The Prometheus exporter, without its own server (procmeter serves the
 * endpoint: bound where configured, the exporter's own default differs
 * between versions, and unref'd), or undefined if its package is missing.
 */
function prometheusReader(): PrometheusExporter | undefined {
  const exporter = loadPeer<typeof import('@opentelemetry/exporter-prometheus')>(
    '@opentelemetry/exporter-prometheus',
    'OTEL_METRICS_EXPORTER=prometheus is left out',
  );
  return exporter && new exporter.PrometheusExporter({ preventServerStart: true });
}

function processResource(resources: Resources) {
  const defaults = resources.defaultResource().merge(
    resources.resourceFromAttributes({
      // Processes of one service (cluster workers, replicas) each get their
      // own: the Collector makes it the Prometheus instance label, without
      // which their series would be one. OTEL_RESOURCE_ATTRIBUTES may set it.
      'service.instance.id': randomUUID(),
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'process.runtime.description': 'Node.js',
    }),
  );
  const fromEnvironment = resources.detectResources({ detectors: [resources.envDetector] });
  warnIfResourceAttributesDropped(fromEnvironment.attributes);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults.
  return defaults.merge(fromEnvironment);
}

/**
 * The SDK's detector leaves out OTEL_RESOURCE_ATTRIBUTES entries it cannot
 * parse (current 2.x releases drop the whole variable for one bad entry)
 * and says so only to its diag logger, off by default: a warning like the
 * other invalid settings' tells why the series lack those labels.
 */
function warnIfResourceAttributesDropped(detected: Record<string, unknown>): void {
  const given = process.env['OTEL_RESOURCE_ATTRIBUTES'] ?? '';
  const serviceNameSetApart = (process.env['OTEL_SERVICE_NAME'] ?? '') !== '';
  const decoded = (key: string) => {
    try {
      return decodeURIComponent(key);
    } catch {
      return key;
    }
  };
  const left = given
    .split(',')
    .filter((entry) => entry.trim() !== '')
    .filter((entry) => {
      const key = entry.split('=')[0]!.trim();
      if (key === '') return true; // no key: never taken
      // OTEL_SERVICE_NAME sets service.name whatever the list holds.
      if (serviceNameSetApart && decoded(key) === 'service.name') return false;
      return !Object.hasOwn(detected, key) && !Object.hasOwn(detected, decoded(key));
    });
  if (left.length > 0) {
    warn(
      `OTEL_RESOURCE_ATTRIBUTES: the OpenTelemetry SDK did not take ${left.map((entry) => JSON.stringify(entry.trim())).join(', ')} ` +
        "(entries are key=value, with ',' and '=' in keys and values percent-encoded, at most 255 characters each; " +
        'current SDKs leave out every entry when one is invalid)',
      'PROCMETER_INVALID_SETTING',
    );
  }
}

/** Serves `prometheus` at /metrics; `url` resolves once listening (undefined if it cannot listen). */
function serveMetrics(settings: EnvironmentSettings, prometheus: PrometheusExporter): { server: Server; url: Promise<string | undefined> } {
  const server = createServer((request, response) => {
    if ((request.url ?? '').split('?')[0] === '/metrics') prometheus.getMetricsRequestHandler(request, response);
    else response.writeHead(404).end('procmeter: metrics are at /metrics\n');
  });
  const url = new Promise<string | undefined>((resolve) => {
    // Always listened for: a server emits 'error' also after it is up
    // (a failed accept(), out of fds, say), and an 'error' event nobody
    // listens for would end the application.
    server.on('error', (error) => {
      if (server.listening) {
        debug('metrics endpoint error: %o', error);
        return;
      }
      // Each cluster worker is a process of its own with its own endpoint.
      const hint = isClusterWorker()
        ? ' (in a cluster, give each worker its own OTEL_EXPORTER_PROMETHEUS_PORT, or export over OTLP)'
        : '';
      process.emitWarning(
        `procmeter: cannot serve metrics on ${settings.prometheusHost}:${settings.prometheusPort}: ${error.message}${hint}`,
        { code: 'PROCMETER_PROMETHEUS_LISTEN' },
      );
      resolve(undefined);
    });
    // exclusive: a cluster worker otherwise shares the primary's listening
    // socket with the other workers, and each scrape would get whichever
    // process the primary handed it to: counters jumping between processes.
    server.listen({ port: settings.prometheusPort, host: settings.prometheusHost, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : settings.prometheusPort;
      const host = settings.prometheusHost.includes(':') ? `[${settings.prometheusHost}]` : settings.prometheusHost;
      resolve(`http://${host}:${port}/metrics`);
    });
  });
  server.unref();
  // Its connections too: a scraper's idle keep-alive connection (or a
  // load balancer's probe) must not keep an otherwise finished program.
  server.on('connection', (socket) => socket.unref());
  return { server, url };
}

function isClusterWorker(): boolean {
  return (require('node:cluster') as typeof import('node:cluster').default).isWorker;
}

/**
 * Flushes on the way out, for at most `timeoutMs`: when the event loop runs
 * dry (beforeExit) and, with `onSigterm`, on SIGTERM. When the loop runs dry
 * it flushes without stopping anything, since a beforeExit listener of the
 * application's may start new work, which goes on being exported (though
 * not flushed again when it ends: a listener that flushed at every
 * beforeExit would keep the process alive for good). On SIGTERM, if
 * procmeter's handler is the only one, it shuts down and raises the signal
 * again, so the process ends as it would have; if the application handles
 * the signal, it decides, and procmeter only flushes: the metrics go on
 * (exported, served) through the application's drain, and the loop running
 * dry at its end flushes again. SIGINT (Ctrl-C) is left alone: a JavaScript
 * handler would hold it until the event loop turns, and an interactive stop
 * should be immediate. For the same reason SIGTERM is only listened to
 * where a push exporter has something to flush: with a handler, a process
 * whose event loop is blocked no longer ends on SIGTERM.
 *
 * Both listeners go first and once: Node removes a once() listener before
 * calling it, so one listening last could not see the application's own
 * once() listeners, already called and gone, and would take itself to be
 * alone (re-raising SIGTERM into a graceful shutdown under way, or ending
 * the process in the middle of the application's beforeExit work).
 */
export function flushOnExit(started: Pick<ZeroCodeStart, 'shutdown' | 'flush'>, timeoutMs: number, { onSigterm: listenForSigterm = true } = {}): void {
  // Resolves true when `work` ended, false when the time ran out.
  const bounded = (work: () => Promise<void>) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      work()
        .catch((error: unknown) => debug('the flush at exit failed: %o', error))
        .finally(() => {
          clearTimeout(timer);
          resolve(true);
        });
    });
  const onSigterm = () => {
    if (process.listenerCount('SIGTERM') > 0) {
      void bounded(started.flush);
      return;
    }
    process.removeListener('beforeExit', onBeforeExit);
    void bounded(started.shutdown).then(() => process.kill(process.pid, 'SIGTERM'));
  };
  const onBeforeExit = () => {
    // The event loop ran dry: if no other beforeExit listener went on to
    // start work of its own, what keeps the process alive past the flush
    // is the exporter's requests (retries to a collector that does not
    // answer), so it ends as it was about to. Otherwise the application's
    // own exit logic decides.
    const alone = process.listenerCount('beforeExit') === 0;
    void bounded(started.flush).then((flushed) => {
      if (!flushed && alone) process.exit();
    });
  };
  try {
    if (listenForSigterm) process.prependOnceListener('SIGTERM', onSigterm);
    process.prependOnceListener('beforeExit', onBeforeExit);
  } catch (error) {
    // A frozen process object takes no listener: no flush at exit, but the
    // application runs on.
    debug('cannot flush at exit: %o', error);
  }
}
