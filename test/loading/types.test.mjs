// The published type declarations, as a TypeScript project that installs
// procmeter sees them: strict, skipLibCheck off (tsc's default), both module
// kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { linkOpenTelemetry, projectWithProcmeter } from '../helpers/installed-copy.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function typeCheck(t, files, { withOpenTelemetry }) {
  const { dir } = projectWithProcmeter(t, 'procmeter-types-');
  if (withOpenTelemetry) linkOpenTelemetry(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'typed-app', private: true }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, module: 'node16', moduleResolution: 'node16', target: 'es2022', types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
      include: Object.keys(files),
    }),
  );
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, name), source);
  const result = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', cwd: dir });
  return { status: result.status, output: result.stdout + result.stderr, dir };
}

const COLLECT_ONLY = `
  const snapshot: Snapshot = collect();
  const cpuSeconds: number = snapshot.cpuUserSeconds + snapshot.gc.markSweepCompact.count;
  collect(createSnapshot());
  const kind: 'native' | 'fallback' = implementation;
  void cpuSeconds, kind;
`;

test('collect() alone type-checks without @opentelemetry/api installed (an optional peer), from ESM and CommonJS', (t) => {
  const { status, output, dir } = typeCheck(
    t,
    {
      'app.mts': `import { collect, createSnapshot, implementation, type Snapshot } from 'procmeter';\n${COLLECT_ONLY}`,
      'default.mts': `import procmeter from 'procmeter';\nconst snapshot: procmeter.Snapshot = procmeter.collect(procmeter.createSnapshot());\nvoid snapshot.cpuUserSeconds;\n`,
      'app.cts': `import procmeter = require('procmeter');\nconst { collect, createSnapshot, implementation } = procmeter;\ntype Snapshot = procmeter.Snapshot;\n${COLLECT_ONLY}`,
    },
    { withOpenTelemetry: false },
  );
  assert.throws(() => createRequire(join(dir, 'app.cts')).resolve('@opentelemetry/api'), /Cannot find module/, 'the project must not see the peer');
  assert.equal(status, 0, output);
});

test('with the OpenTelemetry SDK installed, its MeterProvider is accepted and a wrong meterProvider is not', (t) => {
  const { status, output } = typeCheck(
    t,
    {
      'app.mts': `
        import { MeterProvider } from '@opentelemetry/sdk-metrics';
        import { metrics } from '@opentelemetry/api';
        import { registerProcessMetrics, type ProcessMetricsHandle } from 'procmeter';
        const handle: ProcessMetricsHandle = registerProcessMetrics({ meterProvider: new MeterProvider(), naming: 'semconv' });
        registerProcessMetrics({ meterProvider: metrics.getMeterProvider(), mode: 'push' });
        // @ts-expect-error not a MeterProvider
        registerProcessMetrics({ meterProvider: 42 });
        // @ts-expect-error no such naming
        registerProcessMetrics({ naming: 'statsd' });
        handle.shutdown();
      `,
    },
    { withOpenTelemetry: true },
  );
  assert.equal(status, 0, output);
});
