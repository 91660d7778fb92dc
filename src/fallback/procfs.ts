// Parsers for the procfs text the fallback reads. Pure; no I/O.

/** /proc/<pid>/statm fields, in pages. Returns undefined unless all seven parse. */
export function parseStatm(text: string): { size: number; resident: number; data: number } | undefined {
  const fields = text.trim().split(' ');
  if (fields.length < 7) return undefined;
  const numbers = fields.slice(0, 7).map(Number);
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { size: numbers[0]!, resident: numbers[1]!, data: numbers[5]! };
}

/**
 * Field 22 of /proc/<pid>/stat, the start time in clock ticks since boot.
 * The command name (field 2) may contain spaces and parentheses, so fields
 * are counted from the last ')'.
 */
export function parseStatStartTicks(text: string): number | undefined {
  const closeParen = text.lastIndexOf(')');
  if (closeParen < 0) return undefined;
  const fields = text.slice(closeParen + 1).trim().split(/ +/);
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) && ticks >= 0 ? ticks : undefined;
}

/** The soft and hard "Max open files" limits from /proc/<pid>/limits. */
export function parseOpenFileLimits(text: string): { soft: number; hard: number } | undefined {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!match) return undefined;
  const limit = (value: string): number => (value === 'unlimited' ? Infinity : Number(value));
  const soft = limit(match[1]!);
  const hard = limit(match[2]!);
  return Number.isNaN(soft) || Number.isNaN(hard) ? undefined : { soft, hard };
}

/** The boot instant in Unix seconds, truncated: the btime line of /proc/stat. */
export function parseBootTimeSeconds(text: string): number | undefined {
  const match = /^btime (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * The process's start in Unix seconds, from its start in clock ticks since
 * boot and the boot instant as now minus /proc/uptime. lxcfs (LXC, LXD,
 * Proxmox containers) serves a /proc/uptime counted from the container's
 * start while the ticks count from the host's boot, which would put the
 * start up to days after Node's own: then the boot instant comes from
 * `bootTimeSeconds()` (/proc/stat's btime, the host's, to the second), and
 * where that is no better either, Node's start is the answer.
 * `nodeStartSeconds`: Node's start on the wall clock as it is now.
 */
export function processStartSeconds(
  startTicks: number,
  ticksPerSecond: number,
  bootFromUptimeSeconds: number,
  bootTimeSeconds: () => number | undefined,
  nodeStartSeconds: number,
): number {
  // A process cannot start after Node started in it; a second of margin
  // for the reads' own spread.
  const plausible = (start: number): boolean => start <= nodeStartSeconds + 1;
  const fromUptime = bootFromUptimeSeconds + startTicks / ticksPerSecond;
  if (plausible(fromUptime)) return fromUptime;
  const bootTime = bootTimeSeconds();
  const fromBootTime = bootTime === undefined ? NaN : bootTime + startTicks / ticksPerSecond;
  return plausible(fromBootTime) ? fromBootTime : nodeStartSeconds;
}

/** Seconds since boot, the first number of /proc/uptime. */
export function parseUptimeSeconds(text: string): number | undefined {
  const seconds = Number(text.split(' ')[0]);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

/** The kernel's base page size from the first mapping in /proc/<pid>/smaps. */
export function parseKernelPageSize(text: string): number | undefined {
  const match = /^KernelPageSize:\s+(\d+) kB$/m.exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * Whether a kernel release (os.release(): '6.18.3-arch1') is at least
 * major.minor; false for one that does not start with 'major.minor'.
 */
export function kernelReleaseAtLeast(release: string, major: number, minor: number): boolean {
  const match = /^(\d+)\.(\d+)/.exec(release);
  if (!match) return false;
  const releaseMajor = Number(match[1]);
  const releaseMinor = Number(match[2]);
  return releaseMajor > major || (releaseMajor === major && releaseMinor >= minor);
}
