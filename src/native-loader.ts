// Finds and validates the native addons. Every candidate that fails is kept
// with its reason, for loadDiagnostics() and NODE_DEBUG=procmeter.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';

import { runtimeRequire, thisDirectory } from './bundling';
import { firstLineOf } from './error-text';
import { LAYOUT_SIGNATURE, SLOT, SLOT_COUNT } from './generated/layout';
import { threadResident } from './thread-resident';

/** What both addons export (native/addon_core.cc, native/addon_v8.cc). */
export interface NativeBinding {
  readonly layoutSignature: string;
  readonly variant: 'core' | 'v8';
  /** Makes `slots` the array sample() fills when given no argument. */
  attach(slots: Float64Array): void;
  /** Fills the attached array, or `buffer` when given. */
  sample(buffer?: Float64Array): void;
  close(): void;
  /** The start time to report where /proc/self/stat cannot be read at all. */
  setFallbackStartTime?(seconds: number): void;
  /** Joins the process-metrics claim every copy of procmeter shares (src/claim-cell.ts). */
  shareClaimCell(cells: BigInt64Array): void;
  /** True if the evaluation with this token now reports the process-wide metrics (see otel/process-claim). */
  claimProcessMetrics(token: bigint): boolean;
  releaseProcessMetrics(token: bigint): void;
}

/** procmeter_v8 adds GC and heap statistics. */
export interface V8Binding extends NativeBinding {
  readonly variant: 'v8';
  readonly nodeModuleVersion: number;
  readonly v8Version: string;
  readonly pauseRingCapacity: number;
  start(trackGc?: boolean): { heapSpaceNames: string[]; heapTrusted: boolean };
  /** Makes the heap slots NaN and stops the GC callbacks' heap reads (bytes reclaimed). */
  distrustHeap(): void;
  drainGcPauses(out: Float64Array): number;
}

/**
 * What belongs to a loaded binary rather than to one evaluation of
 * procmeter's JavaScript. A binary's exports are kept per thread and path
 * (loadNative), so procmeter evaluated again in the same thread (a test
 * runner's fresh module registry, require.cache cleared, hot reload) gets
 * the binding an earlier evaluation started: all of them share this, so none reads an
 * array the addon no longer fills or undoes another's start().
 */
export interface BindingState {
  /** True once an evaluation has taken this binary into use. */
  accepted?: boolean;
  /** The array the addon fills when sample() gets no argument. */
  slots?: Float64Array;
  /** What start() and the heap check found, once the binary was accepted. */
  started?: { readonly heapSpaceNames: readonly string[]; readonly heapTrusted: boolean };
}

const BINDING_STATE = Symbol.for('procmeter.bindingState');

export function bindingState(binding: object): BindingState {
  const holder = binding as { [BINDING_STATE]?: BindingState };
  if (holder[BINDING_STATE] === undefined && Object.isExtensible(binding)) {
    Object.defineProperty(binding, BINDING_STATE, { value: {} });
  }
  return holder[BINDING_STATE] ?? {};
}

export interface LoadAttempt {
  /** Absolute path of the binary tried. */
  readonly path: string;
  /** Why it was not used; absent for the one that loaded. */
  readonly error?: string;
}

export interface LoadedV8Binding {
  readonly binding: V8Binding;
  readonly path: string;
  readonly heapSpaceNames: readonly string[];
  /** False when the native heap figures failed their checks. */
  readonly heapTrusted: boolean;
}

export interface LoadedCoreBinding {
  readonly binding: NativeBinding;
  readonly path: string;
  /** Why a V8-specific binary serves only as this (built for another Node ABI). */
  readonly v8PartUnused?: string;
}

export interface NativeLoadResult {
  /** The full addon, when one fits this Node. */
  readonly full: LoadedV8Binding | undefined;
  /** The Node-API-only addon, tried only when no full addon fits. */
  readonly core: LoadedCoreBinding | undefined;
  readonly attempts: readonly LoadAttempt[];
  /** The one binary tried was named by PROCMETER_BINARY_PATH. */
  readonly explicit: boolean;
}

/** Environment variable naming one binary to load, e.g. for bundled apps. */
export const BINARY_PATH_ENV = 'PROCMETER_BINARY_PATH';

// dist/cjs (this module is bundled into dist/cjs/index.js) -> the package
// root; none in an ES-module bundle of an application, which has to name
// its binaries with PROCMETER_BINARY_PATH.
const packageRoot = thisDirectory === undefined ? undefined : resolve(thisDirectory, '..', '..');

export interface Candidates {
  readonly v8: readonly string[];
  readonly core: readonly string[];
  /** A binary named by the user: tried alone, whichever variant it is. */
  readonly explicit: string | undefined;
  /** Binaries not tried, with the reason: listed first in the diagnostics. */
  readonly skipped: readonly LoadAttempt[];
}

/** The file names the prebuild script gives the binaries for this Node. */
export function prebuildNames(): { v8: string; core: string } {
  return { v8: `procmeter_v8.abi${process.versions.modules}.glibc.node`, core: 'procmeter_core.glibc.node' };
}

/**
 * The C library of this system, as node-gyp-build tells it: LIBC, else
 * Alpine's marker file. Only glibc binaries are built, and one can load on
 * musl (which answers for libc.so.6) without ever having been tested there.
 */
function systemLibc(env: NodeJS.ProcessEnv): string {
  if (env.LIBC) return env.LIBC;
  try {
    return existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  } catch {
    return 'glibc'; // Node's permission model throws where it may not look
  }
}

/**
 * Where to look, in node-gyp-build's order: a local build (a developer's, or
 * one compiled by hand after install) before the shipped prebuilds.
 * PROCMETER_BINARY_PATH replaces the search: a directory (e.g. a bundle's
 * copy of prebuilds/linux-x64) is searched for the prebuild names, which are
 * glibc builds, not tried on another C library; anything else is tried
 * alone as the binary, whatever the C library (one built in place there).
 */
export function nativeCandidates(env: NodeJS.ProcessEnv = process.env): Candidates {
  const names = prebuildNames();
  const explicit = env[BINARY_PATH_ENV];
  if (explicit) {
    const resolved = resolve(explicit);
    if (isDirectory(resolved)) {
      const libc = systemLibc(env);
      if (libc !== 'glibc') return { v8: [], core: [], explicit: undefined, skipped: notForThisLibc(resolved, names, libc) };
      return { v8: [join(resolved, names.v8)], core: [join(resolved, names.core)], explicit: undefined, skipped: [] };
    }
    return { v8: [], core: [], explicit: resolved, skipped: [] };
  }
  if (packageRoot === undefined) {
    const skipped = { path: 'prebuilds/', error: `bundled without __dirname, procmeter cannot find its directory: name the binaries with ${BINARY_PATH_ENV}` };
    return { v8: [], core: [], explicit: undefined, skipped: [skipped] };
  }
  const release = join(packageRoot, 'build', 'Release');
  const prebuilds = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  const libc = systemLibc(env);
  if (libc !== 'glibc') {
    // A local build was made for this system; only the prebuilds are refused.
    return {
      v8: [join(release, 'procmeter_v8.node')],
      core: [join(release, 'procmeter_core.node')],
      explicit: undefined,
      skipped: notForThisLibc(prebuilds, names, libc),
    };
  }
  return {
    v8: [join(release, 'procmeter_v8.node'), join(prebuilds, names.v8)],
    core: [join(release, 'procmeter_core.node'), join(prebuilds, names.core)],
    explicit: undefined,
    skipped: [],
  };
}

function notForThisLibc(directory: string, names: { v8: string; core: string }, libc: string): LoadAttempt[] {
  const error = `built for glibc; this system's C library is ${libc}`;
  return [names.v8, names.core].map((name) => ({ path: join(directory, name), error }));
}

// statSync() throws for more than a missing entry (ENOTDIR, ELOOP, EACCES):
// a path that cannot be read as a directory is tried as a binary, whose
// loading then fails and is reported like any other.
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

const LOADABLE_EXTENSIONS = new Set(['.node', '.js', '.cjs']);

export function loadNative(trackGc: boolean, candidates: Candidates = nativeCandidates()): NativeLoadResult {
  const attempts: LoadAttempt[] = [...candidates.skipped];
  const tryLoad = <T>(file: string, accept: (binding: NativeBinding) => T): T | undefined => {
    let loaded: Partial<NativeBinding> | undefined;
    try {
      // require() would run a file of any other name as JavaScript
      // (PROCMETER_BINARY_PATH pointing at the wrong file, say); a .js
      // module exporting a binding is let through for wrappers (procmeter's
      // tests use them). A binary is kept per thread, so that every
      // evaluation of procmeter shares one binding: require()'s cache alone
      // does not survive hot reload, after which require() would initialise
      // the addon again (see thread-resident.ts).
      const extension = extname(file);
      if (!LOADABLE_EXTENSIONS.has(extension)) throw existsSync(file) ? new Error('not a .node file') : noSuchFile();
      loaded = (extension === '.node' ? threadResident(`binary:${file}`, () => runtimeRequire(file)) : runtimeRequire(file)) as Partial<NativeBinding>;
      const result = accept(checkCommon(loaded));
      bindingState(loaded).accepted = true;
      attempts.push({ path: file });
      return result;
    } catch (error) {
      attempts.push({ path: file, error: describeError(error, file) });
      // A binary turned down after its first sample keeps its procfs fds
      // open until the thread ends: give them back (unless an earlier
      // evaluation of procmeter uses it).
      try {
        if (typeof loaded?.close === 'function' && !bindingState(loaded).accepted) loaded.close();
      } catch {
        // nothing more to give back
      }
      return undefined;
    }
  };
  const acceptFull = (file: string) => (binding: NativeBinding) => startV8Binding(binding, file, trackGc);
  const acceptCore = (file: string) => (binding: NativeBinding): LoadedCoreBinding => ({ binding, path: file });

  if (candidates.explicit !== undefined) {
    const file = candidates.explicit;
    const loaded = tryLoad(file, (binding) => {
      if (binding.variant !== 'v8') return { core: acceptCore(file)(binding) };
      // A V8-specific binary for another Node (kept after an upgrade): its
      // process part uses Node-API alone, V8 only once started, so it still
      // serves for that (as the Node-API-only prebuild does in a search).
      const otherAbi = otherAbiThan(binding as V8Binding);
      return otherAbi === undefined ? { full: acceptFull(file)(binding) } : { core: { binding, path: file, v8PartUnused: otherAbi } };
    });
    return { full: loaded?.full, core: loaded?.core, attempts, explicit: true };
  }
  for (const file of candidates.v8) {
    const full = tryLoad(file, acceptFull(file));
    if (full) return { full, core: undefined, attempts, explicit: false };
  }
  for (const file of candidates.core) {
    const core = tryLoad(file, acceptCore(file));
    if (core) return { full: undefined, core, attempts, explicit: false };
  }
  return { full: undefined, core: undefined, attempts, explicit: false };
}

function checkCommon(candidate: Partial<NativeBinding>): NativeBinding {
  const functions = ['sample', 'attach', 'close', 'shareClaimCell', 'claimProcessMetrics', 'releaseProcessMetrics'] as const;
  if (functions.some((name) => typeof candidate[name] !== 'function')) {
    throw new Error(`not a procmeter binary (needs functions ${functions.join(', ')})`);
  }
  if (candidate.layoutSignature !== LAYOUT_SIGNATURE) {
    throw new Error('built from a different snapshot layout than this version of procmeter (stale binary)');
  }
  const binding = candidate as NativeBinding;
  // The first sample reads the start time, once.
  const slots = new Float64Array(SLOT_COUNT);
  binding.sample(slots);
  // Where procfs has none: Node's time origin (process-wide, a little after
  // the start), as the fallback reports. Only then: the global performance
  // loads perf_hooks (12 M instructions, a good part of loading procmeter).
  if (Number.isNaN(slots[SLOT.startTimeSeconds])) binding.setFallbackStartTime?.(performance.timeOrigin / 1000);
  return binding;
}

/**
 * procmeter_v8 uses V8's C++ API, whose ABI changes with every Node major: it
 * may only start when built for exactly this Node ABI and V8 version. Its
 * heap figures must then agree with process.memoryUsage(), or they are not used.
 */
function startV8Binding(binding: NativeBinding, file: string, trackGc: boolean): LoadedV8Binding {
  const full = binding as V8Binding;
  const otherAbi = otherAbiThan(full);
  if (otherAbi !== undefined) throw new Error(otherAbi);
  const state = bindingState(full);
  if (state.started === undefined) {
    const started = full.start(trackGc);
    const heapTrusted = started.heapTrusted && heapAgrees(full);
    // The GC callbacks read the same structs for the bytes reclaimed.
    if (!heapTrusted) full.distrustHeap();
    state.started = { heapSpaceNames: started.heapSpaceNames, heapTrusted };
  }
  return { binding: full, path: file, ...state.started };
}

/** Which other Node the binary was built for, or undefined when it is this one. */
function otherAbiThan(binding: V8Binding): string | undefined {
  const runningV8 = process.versions.v8.split('.').slice(0, 2).join('.');
  if (binding.nodeModuleVersion === Number(process.versions.modules) && binding.v8Version === runningV8) return undefined;
  return `built for Node ABI ${binding.nodeModuleVersion} (V8 ${binding.v8Version}); this Node is ABI ${process.versions.modules} (V8 ${runningV8})`;
}

function noSuchFile(): Error {
  return Object.assign(new Error('no such file or directory'), { code: 'ENOENT' });
}

// The binary was built for exactly this V8, so the check is belt and braces:
// Node's own build reads the same V8 struct for process.memoryUsage(), so a
// field at the wrong offset shows as a mismatch. (Not the v8 module: loading
// it costs 1-2 ms of start-up.) Either figure can move between the two
// reads (a new heap page, a freed buffer): only a repeated mismatch counts.
// Never throws: the binary has started (its GC callbacks are in), and a
// check that cannot be made must not turn it down.
function heapAgrees(binding: V8Binding): boolean {
  const slots = new Float64Array(SLOT_COUNT);
  for (let attempt = 0; attempt < 3; attempt++) {
    binding.sample(slots);
    const usage = heapUsage();
    if (usage === undefined) return false;
    if (slots[SLOT.heapTotalBytes] === usage.heapTotal && slots[SLOT.externalMemoryBytes] === usage.external) return true;
  }
  return false;
}

// process.memoryUsage() also reads the RSS, which opens /proc/self/stat and
// throws when the process is out of fds; the v8 module needs none.
function heapUsage(): { heapTotal: number; external: number } | undefined {
  try {
    return process.memoryUsage();
  } catch {
    try {
      const heap = (require('node:v8') as typeof import('node:v8')).getHeapStatistics();
      return { heapTotal: heap.total_heap_size, external: heap.external_memory };
    } catch {
      return undefined; // unverified: distrusted
    }
  }
}

function describeError(error: unknown, file: string): string {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  const text = typeof code === 'string' ? `${code}: ${firstLineOf(error)}` : firstLineOf(error);
  // glibc answers "No such file or directory" for a binary built for
  // another CPU, which sends the reader looking for a file that is there.
  if (code !== 'ERR_DLOPEN_FAILED' || !text.endsWith('No such file or directory')) return text;
  const machine = elfMachineOf(file);
  return machine === undefined || machine === process.arch
    ? text
    : `${text} (the file is there, built for ${machine}; this process runs on ${process.arch})`;
}

// ELF e_machine values, by the names process.arch gives them.
const ELF_MACHINES = new Map([
  [3, 'ia32'],
  [8, 'mips'],
  [20, 'ppc'],
  [21, 'ppc64'],
  [22, 's390x'],
  [40, 'arm'],
  [62, 'x64'],
  [183, 'arm64'],
  [243, 'riscv64'],
  [258, 'loong64'],
]);

/** The CPU architecture an ELF file was built for, if it is one (undefined if there is no such file). */
function elfMachineOf(file: string): string | undefined {
  try {
    const header = Buffer.alloc(20);
    const fd = openSync(file, 'r');
    try {
      if (readSync(fd, header, 0, header.length, 0) < header.length) return undefined;
    } finally {
      closeSync(fd);
    }
    if (header.readUInt32BE(0) !== 0x7f454c46) return undefined; // "\x7fELF"
    const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18); // EI_DATA: 2 is big-endian
    return ELF_MACHINES.get(machine) ?? `ELF machine ${machine}`;
  } catch {
    return undefined;
  }
}
