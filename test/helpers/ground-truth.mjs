// Readings taken straight from the kernel by the tests themselves, never
// through procmeter: the ground truth procmeter's values are checked against.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** A field of /proc/self/status in bytes (kB fields) or as a count. */
export function statusField(name, pid = 'self') {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${name}:\\s+(\\d+)(\\s+kB)?$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
  return Number(match[1]) * (match[2] ? 1024 : 1);
}

/**
 * Entries of /proc/self/fd, minus the fd the listing itself opened. This is
 * every fd the process has, including the ones procmeter keeps open.
 */
export function listedOpenFds() {
  return readdirSync('/proc/self/fd').length - 1;
}

/** Soft and hard "Max open files" from /proc/<pid>/limits. */
export function openFileLimits(pid = 'self') {
  const text = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const [, soft, hard] = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const value = (v) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: value(soft), hard: value(hard) };
}

/**
 * Start time in Unix seconds from /proc/<pid>/stat field 22 (ticks since
 * boot, USER_HZ = 100) and the boot instant from /proc/uptime.
 */
export function procStartTimeSeconds(pid = 'self') {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[19]);
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() / 1000 - uptimeSeconds + startTicks / 100;
}

/** `ps -o lstart` for a pid, in Unix seconds (whole seconds, as ps prints). */
export function psStartTimeSeconds(pid) {
  const text = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
  }).trim();
  return Date.parse(`${text} UTC`) / 1000;
}
