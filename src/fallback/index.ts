// The JavaScript fallbacks, one file of the build (dist/cjs/fallback/
// index.js), loaded only when a native addon cannot serve.
export { FallbackProcessSampler, type FallbackOptions } from './process-sampler';
export { GcObserver } from './gc-observer';
export { HeapReader } from './heap-reader';
export { kernelReleaseAtLeast } from './procfs';
