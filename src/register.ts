// procmeter/register: the zero-code start.
//
//   node --import procmeter/register app.js     (ESM and CJS apps)
//   node -r procmeter/register app.js           (CommonJS preload)
//
// Reads OTEL_METRICS_EXPORTER (otlp | prometheus | console | none, comma-
// separated; default otlp), OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL
// (http/json; http/protobuf is sent as JSON too), OTEL_METRIC_EXPORT_INTERVAL,
// OTEL_METRIC_EXPORT_TIMEOUT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_PROMETHEUS_HOST (default 127.0.0.1) and _PORT (default
// 9464), OTEL_SDK_DISABLED, and PROCMETER_NAMING (prometheus | semconv).
// Nothing here stops the application. An invalid setting is reported as a
// process warning (PROCMETER_INVALID_SETTING) naming the variable, and its
// default is used (or the exporter that needed it left out), as the
// OpenTelemetry SDK does with the same variables. A missing peer package
// (PROCMETER_MISSING_PEER) leaves out the exporter that needs it, or all
// metrics; a peer that fails to set up (PROCMETER_START_FAILED: an SDK
// version procmeter does not support, say) leaves out all metrics. Does
// nothing in worker threads.
import { flushOnExit, startFromEnvironment, type ZeroCodeStart } from './otel';

export const started: ZeroCodeStart = startFromEnvironment();
// SIGTERM only where an exporter pushes: a scrape endpoint has nothing to
// flush, and Node's own SIGTERM ends even a process whose loop is blocked.
// (What was set up: an exporter asked for whose package is missing is not.)
if (started.ownsMeterProvider) flushOnExit(started, started.settings.exitFlushTimeoutMs, { onSigterm: started.pushes });
