// The environment whole-process benchmarks give the Node processes they time.
//
// Settings inherited from the shell can add the same fixed cost to every
// process and so shrink every ratio: NODE_EXTRA_CA_CERTS makes Node 20 parse
// the named certificate bundle at start-up (85 ms per process on the
// development VM, where `node -e 0` takes 40 ms), and NODE_OPTIONS can
// preload anything. Both are removed.
const INHERITED_COSTS = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];

export function benchChildEnv(overrides = {}) {
  const env = { ...process.env };
  for (const name of INHERITED_COSTS) delete env[name];
  return { ...env, ...overrides };
}

/** The inherited settings that benchChildEnv() removes, as found here. */
export function removedSettings() {
  return INHERITED_COSTS.filter((name) => process.env[name] !== undefined);
}
