// The OpenTelemetry layer, one file of the build (dist/cjs/otel/index.js),
// loaded only when registerProcessMetrics() is first called or by
// procmeter/register. It reaches the per-thread sampler and addon through
// procmeter's entry point (../index), so each exists once per thread.
// Besides what those two callers use, it exports the pieces the tests build
// registrations from (createObserver, createPusher, mainThreadAttributes,
// catalogFor) and settingsFromEnvironment.
export {
  createObserver,
  createPusher,
  mainThreadAttributes,
  procmeterMeter,
  registerProcessMetrics,
  type ProcessMetricsHandle,
} from './register-metrics';
export { flushOnExit, settingsFromEnvironment, startFromEnvironment, type ZeroCodeStart } from './setup';
export { catalogFor } from './catalog';
