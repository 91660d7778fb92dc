// Objects that hold resources for a whole thread (a loaded binary, kept
// procfs fds, a GC observer) and must not be made again when procmeter's
// JavaScript is evaluated again in that thread: a test runner's fresh module
// registry, or hot reload that empties all of require.cache (the entry of a
// .node file too, after which require() runs the addon's initialisation
// anew, with kept fds and GC callbacks of its own, until the thread ends).
//
// They live on `process`, which is per thread and outlives every module
// registry, keyed by what made them (a binary's path, a bundle's file), so
// that only the same code shares them.
import { types } from 'node:util';

const RESIDENTS = Symbol.for('procmeter.threadResidents.v1');

/** The object this thread keeps under `key`, made by `make` the first time. */
export function threadResident<T>(key: string, make: () => T): T {
  const residents = residentsOfThisThread();
  if (residents?.has(key)) return residents.get(key) as T;
  const made = make();
  residents?.set(key, made);
  return made;
}

function residentsOfThisThread(): Map<string, unknown> | undefined {
  const holder = process as unknown as { [RESIDENTS]?: unknown };
  try {
    const existing = holder[RESIDENTS];
    // isMap(), not instanceof: the Map may come from another realm (a vm
    // context sharing this process object); a copy of `process` that is no
    // Map (a test runner's deep copy) is replaced.
    if (types.isMap(existing)) return existing as Map<string, unknown>;
    const residents = new Map<string, unknown>();
    Object.defineProperty(holder, RESIDENTS, { value: residents, configurable: true });
    return residents;
  } catch {
    return undefined; // a frozen process object: nothing is kept, all still works
  }
}
