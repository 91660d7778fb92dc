// The pure-JavaScript process sampler: the same slots as the native addon,
// from Node built-ins and procfs. Used where no native binary loads.
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync, statSync, type Stats } from 'node:fs';
import { release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { debuglog } from 'node:util';

import {
  kernelReleaseAtLeast,
  parseBootTimeSeconds,
  parseKernelPageSize,
  parseOpenFileLimits,
  parseStatStartTicks,
  parseStatm,
  parseUptimeSeconds,
  processStartSeconds,
} from './procfs';
import { firstLineOf } from '../error-text';
import { onMainThread } from '../threads';
import { PROCESS_SLOT_COUNT, SLOT, SLOT_COUNT } from '../generated/layout';
import type { ProcessSource } from '../sampler';

// USER_HZ, the unit of /proc/<pid>/stat times, is 100 on every architecture
// Node runs on; Node offers no sysconf(_SC_CLK_TCK) to ask.
const debug = debuglog('procmeter');
const CLOCK_TICKS_PER_SECOND = 100;
const DIRECTORY_FLAGS = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0);

export interface FallbackOptions {
  /**
   * Keep procfs files open between samples (default: on the main thread).
   * Kept files still read when the process is out of fds, but a worker
   * thread cannot close them when it ends, so workers open them per sample.
   */
  keepFilesOpen?: boolean;
  /** Count /proc/self/fd entries as kernels before 6.2 require (default: on those kernels; on for tests). */
  forceDirectoryScan?: boolean;
}

// A path that cannot be opened for good: refused by Node's permission model
// (for the life of the process), or missing or forbidden (no procfs in this
// sandbox or chroot). Asked again at every sample, each failure would cost a
// system call and an exception with its stack (collect() took 4x as long):
// the first is kept and thrown again. Running out of fds passes, and is not
// kept.
const PERMANENT_FAILURES = new Set(['ERR_ACCESS_DENIED', 'ENOENT', 'ENOTDIR', 'EACCES', 'EPERM']);
const refusals = new Map<string, unknown>();

function isPermanentFailure(error: unknown): boolean {
  return PERMANENT_FAILURES.has((error as NodeJS.ErrnoException | undefined)?.code ?? '');
}

function unlessRefused<T>(path: string, access: () => T): T {
  const refusal = refusals.get(path);
  if (refusal !== undefined) throw refusal;
  try {
    return access();
  } catch (error) {
    if (isPermanentFailure(error)) {
      refusals.set(path, error);
      // Said once: what it reads is NaN (or a stand-in) from now on.
      debug('fallback: cannot read %s (%s: %s), not tried again', path, (error as NodeJS.ErrnoException).code, firstLineOf(error));
    }
    throw error;
  }
}

/**
 * A procfs fd kept open, with the identity of the file it opened: code that
 * closes every descriptor above 2 (some daemonizing helpers do) takes it,
 * and may open its own files under the same number, which procmeter must
 * neither read as its own nor close.
 */
class KeptFd {
  private fd = -1;
  private device = 0;
  private inode = 0;

  constructor(
    private readonly path: string,
    private readonly flags: string | number,
  ) {}

  /** The fd, opened first if need be; throws if it cannot be. */
  get(): number {
    if (this.fd < 0) {
      const fd = unlessRefused(this.path, () => openSync(this.path, this.flags));
      try {
        const { dev, ino } = fstatSync(fd);
        this.device = dev;
        this.inode = ino;
      } catch (error) {
        closeSync(fd); // without its identity it could never be told from a stranger's
        throw error;
      }
      this.fd = fd;
    }
    return this.fd;
  }

  /** Opens it now, while fds are surely available; get() retries if this fails. */
  tryOpen(): void {
    try {
      this.get();
    } catch {
      // retried at the next sample
    }
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  isOwn(stats: Stats): boolean {
    return stats.dev === this.device && stats.ino === this.inode;
  }

  /** False if the fd is open but no longer the file opened (one fstat). */
  isStillOwnOrClosed(): boolean {
    if (this.fd < 0) return true;
    try {
      return this.isOwn(fstatSync(this.fd));
    } catch {
      return false; // closed under us: not ours either
    }
  }

  /** Lets go of the fd, without closing it, unless it is still the file opened. */
  dropIfForeign(): void {
    if (!this.isStillOwnOrClosed()) this.fd = -1;
  }
}

/** A procfs file read from offset 0, kept open or opened per read. */
class ProcFile {
  /** Its fd, where kept open. */
  readonly kept: KeptFd | undefined;
  private readonly buffer: Buffer;

  constructor(
    private readonly path: string,
    keepOpen: boolean,
    capacityBytes: number,
  ) {
    // Not from Buffer's shared pool: it is kept for good, and the pool can
    // be detached by other code (its ArrayBuffer transferred).
    this.buffer = Buffer.allocUnsafeSlow(capacityBytes);
    this.kept = keepOpen ? new KeptFd(path, 'r') : undefined;
    this.kept?.tryOpen();
  }

  /** The text, or undefined if it cannot be read now. */
  read(): string | undefined {
    try {
      return this.readOrThrow();
    } catch {
      return undefined;
    }
  }

  readOrThrow(): string {
    if (this.kept) return this.readFrom(this.kept.get());
    const fd = unlessRefused(this.path, () => openSync(this.path, 'r'));
    try {
      return this.readFrom(fd);
    } finally {
      closeSync(fd);
    }
  }

  private readFrom(fd: number): string {
    const length = readSync(fd, this.buffer, 0, this.buffer.length, 0);
    return this.buffer.toString('latin1', 0, length);
  }
}

/**
 * A procfs directory whose fstat tells a count: st_size of /proc/self/fd is
 * the number of open fds (Linux >= 6.2), st_nlink of /proc/self/task is 2
 * plus the number of threads.
 */
class ProcDirectory {
  /** Its fd, where kept open. */
  readonly kept: KeptFd | undefined;

  constructor(
    private readonly path: string,
    keepOpen: boolean,
  ) {
    this.kept = keepOpen ? new KeptFd(path, DIRECTORY_FLAGS) : undefined;
    this.kept?.tryOpen();
  }

  /**
   * The stat, and whether a kept fd of ours was one of the fds counted;
   * `foreign` when the kept fd is no longer the directory opened.
   */
  stat(): { stats: Stats; countedOwnFd: boolean } | 'foreign' | undefined {
    let fd: number;
    try {
      if (!this.kept) return { stats: unlessRefused(this.path, () => statSync(this.path)), countedOwnFd: false };
      fd = this.kept.get();
    } catch {
      return undefined; // cannot be opened now (out of fds, say)
    }
    try {
      const stats = fstatSync(fd);
      return this.kept.isOwn(stats) ? { stats, countedOwnFd: true } : 'foreign';
    } catch {
      return 'foreign'; // closed under us
    }
  }

}

export class FallbackProcessSampler implements ProcessSource {
  readonly slots = new Float64Array(SLOT_COUNT);
  private readonly statm: ProcFile;
  private readonly limits: ProcFile;
  private readonly fdDirectory: ProcDirectory;
  private readonly taskDirectory: ProcDirectory;
  private readonly forceDirectoryScan: boolean;
  private pageSizeBytes = NaN;
  private startTimeSeconds = NaN;
  private nextFileCheckMs = 0;

  constructor(options: FallbackOptions = {}) {
    // Read once, first, as the native sampler does: near the fd limit the
    // kept files below would take the last fds these reads need. Where fds
    // ran out, retried by the first samples until they can be (NaN meanwhile).
    if (process.platform === 'linux') this.readOnceFigures();
    const keepOpen = options.keepFilesOpen ?? onMainThread();
    this.statm = new ProcFile('/proc/self/statm', keepOpen, 256);
    this.limits = new ProcFile('/proc/self/limits', keepOpen, 4096);
    this.fdDirectory = new ProcDirectory('/proc/self/fd', keepOpen);
    this.taskDirectory = new ProcDirectory('/proc/self/task', keepOpen);
    // st_size of /proc/self/fd counts the fds since Linux 6.2; kernels
    // emulated in user space (gVisor, WSL 1) give older releases, and their
    // st_size is not taken for a count.
    this.forceDirectoryScan = options.forceDirectoryScan ?? !kernelReleaseAtLeast(kernelRelease(), 6, 2);
  }

  private readOnceFigures(): void {
    try {
      if (Number.isNaN(this.pageSizeBytes)) this.pageSizeBytes = readPageSizeBytes();
      if (Number.isNaN(this.startTimeSeconds)) this.startTimeSeconds = readStartTimeSeconds();
    } catch {
      // Out of fds (see readOnce): NaN until a later sample can read them.
    }
  }

  sample(): void {
    const slots = this.slots;
    slots.fill(NaN, 0, PROCESS_SLOT_COUNT);
    try {
      this.sampleResourceUsage(slots);
      if (process.platform === 'linux') {
        if (!this.sampleProcfs(slots)) {
          // A kept fd was closed under procmeter, its number maybe reused:
          // let go of those that are not procmeter's any more, without
          // closing them, reopen them all before any is read (the fd count
          // includes them), and read again.
          const kept = [this.statm, this.limits, this.fdDirectory, this.taskDirectory].flatMap((source) => source.kept ?? []);
          for (const fd of kept) fd.dropIfForeign();
          for (const fd of kept) fd.tryOpen();
          this.sampleProcfs(slots);
        }
      } else {
        slots[SLOT.residentMemoryBytes] = residentBytesFromNode();
        slots[SLOT.startTimeSeconds] = performance.timeOrigin / 1000;
      }
    } catch (error) {
      // A reading that failed stays NaN; sampling never throws.
      debug('fallback: sampling failed: %o', error);
    }
  }

  private sampleResourceUsage(slots: Float64Array): void {
    const usage = process.resourceUsage();
    slots[SLOT.cpuUserSeconds] = usage.userCPUTime / 1e6;
    slots[SLOT.cpuSystemSeconds] = usage.systemCPUTime / 1e6;
    slots[SLOT.maxResidentMemoryBytes] = usage.maxRSS * 1024;
    // libuv's getrusage on Windows leaves the context switches and minor
    // faults 0 and gives every page fault, soft ones too, as major: not
    // available there (NaN, left out), rather than 0 or a swap storm.
    if (process.platform === 'win32') return;
    slots[SLOT.voluntaryContextSwitches] = usage.voluntaryContextSwitches;
    slots[SLOT.involuntaryContextSwitches] = usage.involuntaryContextSwitches;
    slots[SLOT.minorPageFaults] = usage.minorPageFault;
    slots[SLOT.majorPageFaults] = usage.majorPageFault;
  }

  /** False if a kept fd turned out not to be procmeter's (see KeptFd). */
  private sampleProcfs(slots: Float64Array): boolean {
    // The directories' identity comes with the fstat that reads them; the
    // files' costs an fstat each, so it is checked when a read fails to
    // parse and at most once a second: a number taken over by another file
    // that reads alike (say, another process's statm) is caught in a second.
    const checkDue = this.fileCheckDue();
    // A file known to be someone else's is not read at all.
    const statmForeign = checkDue && this.statm.kept?.isStillOwnOrClosed() === false;
    const limitsForeign = checkDue && this.limits.kept?.isStillOwnOrClosed() === false;
    let allOwn = !statmForeign && !limitsForeign;
    this.readOnceFigures();
    const statmText = statmForeign ? undefined : this.statm.read();
    const pages = statmText === undefined ? undefined : parseStatm(statmText);
    if (pages) {
      slots[SLOT.residentMemoryBytes] = pages.resident * this.pageSizeBytes;
      slots[SLOT.virtualMemoryBytes] = pages.size * this.pageSizeBytes;
      slots[SLOT.dataBytes] = pages.data * this.pageSizeBytes;
    } else {
      // statm cannot be read (Node's permission model without /proc in
      // --allow-fs-read, a sandbox) or is not procmeter's: the resident
      // size, the one metric every dashboard has, still comes from Node.
      slots[SLOT.residentMemoryBytes] = residentBytesFromNode();
      slots[SLOT.virtualMemoryBytes] = slots[SLOT.dataBytes] = NaN;
      if (this.statm.kept?.isOpen) allOwn = false; // a failed read may be a stranger's fd
    }

    const directory = this.fdDirectory.stat();
    if (directory === 'foreign') allOwn = false;
    slots[SLOT.openFds] = directory === 'foreign' ? NaN : this.countOpenFds(directory);

    const task = this.taskDirectory.stat();
    if (task === 'foreign') allOwn = false;
    slots[SLOT.threads] = task !== 'foreign' && task && task.stats.nlink > 2 ? task.stats.nlink - 2 : NaN;

    const limitsText = limitsForeign ? undefined : this.limits.read();
    const limits = limitsText === undefined ? undefined : parseOpenFileLimits(limitsText);
    if (limits) {
      slots[SLOT.maxFds] = limits.soft;
      slots[SLOT.maxFdsHard] = limits.hard;
    } else {
      slots[SLOT.maxFds] = slots[SLOT.maxFdsHard] = NaN;
      if (this.limits.kept?.isOpen) allOwn = false;
    }

    slots[SLOT.startTimeSeconds] = this.startTimeSeconds;
    return allOwn;
  }

  private fileCheckDue(): boolean {
    const now = performance.now();
    if (now < this.nextFileCheckMs) return false;
    this.nextFileCheckMs = now + 1000;
    return true;
  }

  private countOpenFds(directory: { stats: Stats; countedOwnFd: boolean } | undefined): number {
    if (!directory) return NaN;
    const ownFds = directory.countedOwnFd ? 1 : 0;
    if (directory.stats.size > 0 && !this.forceDirectoryScan) return directory.stats.size - ownFds;
    // Kernels before 6.2 report size 0: list the directory. The listing also
    // shows the fd readdir itself opened.
    try {
      return unlessRefused('/proc/self/fd', () => readdirSync('/proc/self/fd')).length - 1 - ownFds;
    } catch {
      return NaN;
    }
  }
}

/**
 * process.memoryUsage.rss(): libuv reads /proc/self/stat in C, which the
 * permission model does not check; NaN where it fails (out of fds), and
 * from then on where it cannot work at all (no procfs).
 */
function residentBytesFromNode(): number {
  if (nodeRssUnavailable) return NaN;
  try {
    return process.memoryUsage.rss();
  } catch (error) {
    nodeRssUnavailable = isPermanentFailure(error);
    return NaN;
  }
}
let nodeRssUnavailable = false;

// The once-read figures are read again later only when fds ran out: a file
// that is missing or unreadable (a kernel without smaps, a sandbox) stays so,
// and gets the usual guess, for good, rather than a failed open per sample.

const TRANSIENT_FAILURES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EINTR']);

/** A procfs file's text, or undefined if it cannot be read; throws only on a failure that may clear up (fds ran out, say). */
function readOnce(path: string, capacityBytes: number): string | undefined {
  try {
    return new ProcFile(path, false, capacityBytes).readOrThrow();
  } catch (error) {
    // Retried later: a failure that may clear up (as the native sampler's).
    if (TRANSIENT_FAILURES.has((error as NodeJS.ErrnoException | undefined)?.code ?? '')) throw error;
    return undefined;
  }
}

function readPageSizeBytes(): number {
  // Node has no sysconf(_SC_PAGESIZE); the first mapping in smaps states the
  // kernel's page size. Reading only its first 4 KiB keeps this cheap.
  const text = readOnce('/proc/self/smaps', 4096);
  return (text === undefined ? undefined : parseKernelPageSize(text)) ?? 4096;
}

/** The process's start in Unix seconds. */
function readStartTimeSeconds(): number {
  const statText = readOnce('/proc/self/stat', 1024);
  const startTicks = statText === undefined ? undefined : parseStatStartTicks(statText);
  // Node's time origin, a little after the start, where procfs has none.
  if (startTicks === undefined) return performance.timeOrigin / 1000;
  // The boot instant is now minus uptime; read uptime between two clock
  // reads and keep the tightest of a few tries, so a preemption between the
  // reads cannot skew it.
  let bootSeconds = NaN;
  let bestWidth = Infinity;
  for (let attempt = 0; attempt < 3; attempt++) {
    // The wall clock now, not timeOrigin + performance.now(): that would
    // miss a step of the clock (NTP, a resumed VM) since the process began.
    const before = Date.now();
    const uptimeText = readOnce('/proc/uptime', 128);
    const after = Date.now();
    const uptimeSeconds = uptimeText === undefined ? undefined : parseUptimeSeconds(uptimeText);
    if (uptimeSeconds === undefined) return performance.timeOrigin / 1000;
    // A negative width is the clock stepped back between the reads.
    if (after - before >= 0 && after - before < bestWidth) {
      bestWidth = after - before;
      bootSeconds = (before + after) / 2000 - uptimeSeconds;
    }
  }
  if (Number.isNaN(bootSeconds)) return performance.timeOrigin / 1000;
  // process.uptime() counts from Node's start on a monotonic clock.
  const nodeStartSeconds = Date.now() / 1000 - process.uptime();
  const bootTimeSeconds = () => {
    // /proc/stat's intr line grows with the interrupts: room for many.
    const text = readOnce('/proc/stat', 1 << 20);
    return text === undefined ? undefined : parseBootTimeSeconds(text);
  };
  return processStartSeconds(startTicks, CLOCK_TICKS_PER_SECOND, bootSeconds, bootTimeSeconds, nodeStartSeconds);
}

// uname() refused (a seccomp sandbox): os.release() throws; then the fds
// are counted by listing, which works on every kernel.
function kernelRelease(): string {
  try {
    return release();
  } catch {
    return '';
  }
}
