#!/usr/bin/env node
// Writes the JavaScript of dist/cjs: a few bundles instead of one file per
// module, because every file Node loads costs start-up time (about 1 ms each
// on the development VM; `npm run bench:startup`). tsc only type-checks
// and writes the .d.ts files.
//
// Each module of src/ belongs to one bundle (BUNDLES). A module that belongs
// to another bundle is not copied in: it is required from that bundle's file
// at run time, so every module with state (the sampler, the addon, the
// OpenTelemetry registrations) exists once per thread, however the package
// is entered. Such imports must name the other bundle's entry module, so
// TypeScript checks that the names imported are the ones it exports. Modules
// without state that several bundles use are copied into each (SHARED).
//
// Loading `procmeter` reads index.js alone; the OpenTelemetry layer and the
// fallbacks load on first use.
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const srcDir = join(root, 'src');
const outDir = join(root, 'dist', 'cjs');
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Output file (under dist/cjs) -> its modules (under src), entry first.
const BUNDLES = {
  'index.js': ['index.ts', 'snapshot.ts', 'implementation.ts', 'native-loader.ts'],
  'otel/index.js': [
    'otel/index.ts',
    'otel/register-metrics.ts',
    'otel/awaiting-provider.ts',
    'otel/setup.ts',
    'otel/catalog.ts',
    'otel/event-loop.ts',
    'otel/gc-pauses.ts',
    'otel/pause-histogram.ts',
    'otel/process-claim.ts',
    'otel/resources.ts',
    'otel/start-time.ts',
  ],
  'fallback/index.js': ['fallback/index.ts', 'fallback/process-sampler.ts', 'fallback/procfs.ts', 'fallback/gc-observer.ts', 'fallback/heap-reader.ts'],
  'register.js': ['register.ts'],
};
// Stateless helpers and constants, copied into each bundle that uses them.
const SHARED = ['bundling.ts', 'error-text.ts', 'generated/layout.ts', 'validate.ts', 'otel/options.ts', 'sampler.ts', 'claim-cell.ts', 'thread-resident.ts', 'threads.ts'];

const owner = new Map();
for (const [output, modules] of Object.entries(BUNDLES)) {
  for (const module of modules) owner.set(join(srcDir, module), { output, entry: join(srcDir, modules[0]) });
}
const shared = new Set(SHARED.map((module) => join(srcDir, module)));

function sourceFileOf(importer, specifier) {
  const base = resolve(dirname(importer), specifier);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    if (statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  return undefined;
}

function splitByOwner(currentOutput) {
  return {
    name: 'procmeter-bundles',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const file = sourceFileOf(args.importer, args.path);
        if (file === undefined) {
          // Files outside src stay where they are (none is imported today);
          // one inside that is no module would fail only at run time.
          const target = resolve(dirname(args.importer), args.path);
          if (!relative(srcDir, target).startsWith('..')) {
            return { errors: [{ text: `${args.path}: no such module in src (import modules without an extension)` }] };
          }
          return { path: args.path, external: true };
        }
        if (shared.has(file)) return { path: file };
        const home = owner.get(file);
        if (home === undefined) return { errors: [{ text: `${relative(root, file)} is in no bundle: add it to BUNDLES or SHARED in scripts/bundle.mjs` }] };
        if (home.output === currentOutput) return { path: file };
        if (file !== home.entry) {
          return {
            errors: [{ text: `${relative(root, file)} belongs to ${home.output}: import it through ${relative(srcDir, home.entry)}, that bundle's entry` }],
          };
        }
        let path = posix.relative(posix.dirname(currentOutput), home.output);
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

// No JavaScript from an earlier build may linger next to the bundles.
function removeJavaScript(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removeJavaScript(path);
    else if (entry.name.endsWith('.js')) rmSync(path);
  }
}
removeJavaScript(outDir);
// The bundles are CommonJS wherever they end up: copied into a project of
// "type": "module", without this they would be read as ES modules.
writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

const included = new Map(); // source module -> the bundles it was copied into
for (const [output, modules] of Object.entries(BUNDLES)) {
  const result = await esbuild.build({
    entryPoints: [join(srcDir, modules[0])],
    outfile: join(outDir, output),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    metafile: true,
    plugins: [splitByOwner(output)],
    define: { PROCMETER_VERSION: JSON.stringify(packageJson.version) },
  });
  for (const input of Object.keys(Object.values(result.metafile.outputs)[0].inputs)) {
    const bundles = included.get(input) ?? [];
    included.set(input, [...bundles, output]);
  }
  const file = join(outDir, output);
  writeFileSync(file, withPlainExports(readFileSync(file, 'utf8'), output));
}

// esbuild's CommonJS output makes every export a getter on an object built
// at the top of the file (__export, __toCommonJS): exports that test doubles
// (sinon.stub, jest.spyOn) cannot replace, and a closure per export. The
// bundles' exports are all constants and functions, and no bundle is
// required back while it loads
// (the others are required lazily, or require index.js, which requires
// nothing of theirs at load), so plain properties set at the end of the
// file are the same exports. The build fails if esbuild's shape changes.
function withPlainExports(code, output) {
  const header =
    /^var (\w+)_exports = \{\};\n__export\(\1_exports, \{\n((?:  [\w$]+: \(\) => [\w$]+,?\n)+)\}\);\nmodule\.exports = __toCommonJS\(\1_exports\);\n/m;
  const annotation = /\/\/ Annotate the CommonJS export names for ESM import in node:\n0 && \(module\.exports = \{\n[^}]*\}\);\n$/;
  const found = header.exec(code);
  if (found === null || !annotation.test(code)) {
    throw new Error(`scripts/bundle.mjs: ${output} does not have the export shape withPlainExports() rewrites (esbuild changed?)`);
  }
  const properties = [...found[2].matchAll(/  ([\w$]+): \(\) => ([\w$]+)/g)].map(([, name, local]) => (name === local ? name : `${name}: ${local}`));
  return (
    code.slice(0, found.index) +
    code.slice(found.index + found[0].length).replace(
      annotation,
      `module.exports = {\n  ${properties.join(',\n  ')}\n};\nObject.defineProperty(module.exports, "__esModule", { value: true });\n`,
    )
  );
}

// Every module is in the bundle it belongs to, and only modules without
// state are in more than one.
const problems = [];
for (const [input, outputs] of included) {
  const file = resolve(root, input);
  if (shared.has(file)) continue;
  const home = owner.get(file)?.output;
  if (outputs.length !== 1 || outputs[0] !== home) problems.push(`${input} is in ${outputs.join(', ')} (belongs to ${home})`);
}
if (problems.length > 0) {
  console.error(`scripts/bundle.mjs:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
