// A registration made before the application's OpenTelemetry SDK is set up
// (import, registerProcessMetrics(), then sdk.start(): a common order). The
// API then hands out its no-op MeterProvider, and instruments made on it
// export nothing, for good. Without options.meterProvider, procmeter waits
// for the global provider instead and registers with it once one is set:
// checked on the next turn of the event loop (an SDK started later in the
// same synchronous start-up), at every update(), and then once a second;
// also at shutdown(), whose last reading must not be lost.
import type { MeterProvider } from '@opentelemetry/api';
import { debuglog } from 'node:util';

import { firstLineOf } from '../error-text';
import type { Mode, Naming } from './options';
import type { ProcessMetricsHandle } from './register-metrics';

const debug = debuglog('procmeter');

/** How often a registration waiting for the global MeterProvider looks for it. */
export const GLOBAL_PROVIDER_POLL_MS = 1000;

export interface AwaitedProvider {
  readonly naming: Naming;
  readonly mode: Mode;
  /** The global MeterProvider once an SDK has set one, else undefined. */
  globalProvider(): MeterProvider | undefined;
  /** Why a provider that is there cannot be used, if that is the case (said once). */
  unusableProvider(): string | undefined;
  /** The registration proper, with that provider; may throw (options it refuses). */
  register(provider: MeterProvider): ProcessMetricsHandle;
}

export function registerOnceProviderIsSet(awaited: AwaitedProvider): ProcessMetricsHandle {
  let registered: ProcessMetricsHandle | undefined;
  let stopped = false;
  // Both unref'd: a process whose SDK never comes still exits on its own.
  const firstLook = setImmediate(() => void lookForProvider());
  const poll = setInterval(() => void lookForProvider(), GLOBAL_PROVIDER_POLL_MS);
  firstLook.unref();
  poll.unref();
  const stopLooking = () => {
    clearImmediate(firstLook);
    clearInterval(poll);
  };

  let toldUnusable = false;
  // True while the registration is being made: an instrument of the
  // application's provider that calls update() back from in there must not
  // make a second one (which nothing could ever shut down).
  let registering = false;
  function lookForProvider(): ProcessMetricsHandle | undefined {
    if (registered !== undefined || stopped || registering) return registered;
    try {
      const provider = awaited.globalProvider();
      if (provider === undefined) {
        if (!toldUnusable) tellUnusable();
        return undefined;
      }
      stopLooking();
      registering = true;
      try {
        registered = awaited.register(provider);
      } finally {
        registering = false;
      }
      debug('registered with the global MeterProvider, set after registerProcessMetrics() was called');
      // shutdown() called back from in there found nothing to shut down yet.
      if (stopped) registered.shutdown();
    } catch (error) {
      // Too late to throw to the caller: the application is told once.
      stopped = true;
      stopLooking();
      process.emitWarning(
        `procmeter: registering with the global MeterProvider, set after registerProcessMetrics() was called, failed ` +
          `(${firstLineOf(error)}); this registration reports nothing.`,
        { code: 'PROCMETER_LATE_REGISTRATION_FAILED' },
      );
    }
    return registered;
  }

  function tellUnusable(): void {
    const why = awaited.unusableProvider();
    if (why === undefined) return;
    toldUnusable = true;
    process.emitWarning(`procmeter: ${why}; registerProcessMetrics() goes on waiting for one it can use.`, { code: 'PROCMETER_PROVIDER_UNUSABLE' });
  }

  let middleware: ReturnType<ProcessMetricsHandle['middleware']> | undefined;
  return {
    // Those of the registration it joined, once it has one: options the
    // provider already had another registration of take its mode.
    get naming() {
      return registered?.naming ?? awaited.naming;
    },
    get mode() {
      return registered?.mode ?? awaited.mode;
    },
    get reportsProcessMetrics() {
      return registered?.reportsProcessMetrics ?? false; // false once shut down
    },
    update() {
      lookForProvider()?.update();
    },
    // Per request: no look for the provider here, the timer does it.
    countRequest() {
      registered?.countRequest();
    },
    middleware: () => (request, response, next) => {
      if (registered === undefined) return void next?.();
      middleware ??= registered.middleware();
      middleware(request, response, next);
    },
    shutdown() {
      // shutdown() takes a last reading: one more look, so that an SDK set
      // up since the last look gets it.
      lookForProvider();
      stopped = true;
      stopLooking();
      registered?.shutdown();
    },
  };
}
