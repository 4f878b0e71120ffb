#!/usr/bin/env node
// npm run build: the JavaScript the image runs, in dist/. Each process (the four services,
// the migration and the scan and keys commands) becomes one ES module that holds our own
// code (the @lr/* workspace packages are TypeScript sources, so they are compiled into it)
// and imports every other package from node_modules as it is. The image then needs only
// the production dependencies: no tsx, no TypeScript. Tests and `npm start` run the sources
// through tsx and need no build.
//
// The bundles sit one folder below the repository root, as scripts/ does: the code that
// finds migrations/ or the sealing thread's module from import.meta.url relies on it.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(root, 'dist');

/** dist/<name>.mjs ← its source */
const ENTRIES = {
  api: 'services/api/src/main.ts',
  scheduler: 'services/scheduler/src/main.ts',
  'sms-worker': 'services/sms-worker/src/main.ts',
  'push-worker': 'services/push-worker/src/main.ts',
  migrate: 'scripts/migrate.ts',
  scan: 'scripts/scan.ts',
  keys: 'scripts/keys.ts',
  // the sealing thread's module (packages/db/src/id-seal.thread.ts starts it by this name)
  'id-seal.worker': 'packages/db/src/id-seal.worker.ts',
};

/** Bare imports stay imports, except our own packages, which exist only as TypeScript. */
const dependenciesStayExternal = {
  name: 'dependencies-stay-external',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@lr/') ? undefined : { path: args.path, external: true }));
  },
};

rmSync(OUT_DIR, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: Object.entries(ENTRIES).map(([out, source]) => ({ out, in: source })),
  outdir: OUT_DIR,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [dependenciesStayExternal],
  logLevel: 'warning',
}).catch(() => process.exit(1)); // esbuild has printed the errors
console.log(`built ${Object.keys(ENTRIES).length} modules into ${path.relative(process.cwd(), OUT_DIR) || '.'}`);
