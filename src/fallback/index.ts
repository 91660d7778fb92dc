// The JavaScript fallbacks, one file of the build (dist/cjs/fallback/
// index.js), loaded only when a native addon cannot serve.
import { FallbackProcessSampler } from './process-sampler';
import { GcObserver } from './gc-observer';
import { thisFile } from '../bundling';
import { threadResident } from '../thread-resident';

export { FallbackProcessSampler, type FallbackOptions } from './process-sampler';
export { GcObserver } from './gc-observer';
export { HeapReader } from './heap-reader';
export { kernelReleaseAtLeast, processStartSeconds } from './procfs';

// One of each per thread, whichever evaluation of procmeter asks (see
// thread-resident.ts): the sampler keeps procfs fds open, the observer
// stays subscribed. Keyed by this file, so only the same code shares them.

/** This thread's process sampler (kept fds on the main thread). */
export function threadProcessSampler(): FallbackProcessSampler {
  return threadResident(`fallback process sampler:${thisFile}`, () => new FallbackProcessSampler());
}

/** This thread's GC observer. */
export function threadGcObserver(): GcObserver {
  return threadResident(`fallback GC observer:${thisFile}`, () => new GcObserver());
}
