// What changes when an application bundles procmeter (webpack, esbuild,
// rollup) instead of loading it from node_modules. Copied into each of
// procmeter's own bundles (scripts/bundle.mjs), so __filename here is the
// file of the bundle that uses it, as it would be in the module itself.

declare const __webpack_require__: unknown;
declare const __non_webpack_require__: NodeJS.Require;
/** The package's version, written in by scripts/bundle.mjs. */
declare const PROCMETER_VERSION: string;

export const packageVersion: string = PROCMETER_VERSION;

/**
 * Node's own require(), for paths known only at run time (a binary, an
 * optional peer): webpack replaces require() of an expression with a stub
 * that always throws "Cannot find module", and keeps Node's require as
 * __non_webpack_require__ (node-gyp-build picks it the same way).
 */
export const runtimeRequire: NodeJS.Require = typeof __webpack_require__ === 'function' ? __non_webpack_require__ : require;

/**
 * This bundle's file, which names this code in the keys of what a thread
 * keeps (thread-resident.ts). An ES-module bundle has no __filename: there
 * the version stands for the code.
 */
export const thisFile: string = typeof __filename === 'string' ? __filename : `procmeter ${packageVersion}, bundled`;

/** This bundle's directory; undefined in an ES-module bundle. */
export const thisDirectory: string | undefined = typeof __dirname === 'string' ? __dirname : undefined;
