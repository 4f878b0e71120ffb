#!/usr/bin/env node
// The entry of `npm start`, `npm test`, `npm run migrate`, `npm run keys`, `npm run scan`
// and the benchmarks. Plain JavaScript with no dependencies, because it runs before
// anything is installed: it installs what is missing with pnpm (through corepack, or npx
// where corepack is not there), then hands over to the TypeScript scripts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const pnpmVersion = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];
// Corepack's signature check fails against the registry mirror these machines use.
const env = { ...process.env, COREPACK_INTEGRITY_KEYS: '0', COREPACK_ENABLE_DOWNLOAD_PROMPT: '0' };

function installed() {
  const lock = path.join(root, 'pnpm-lock.yaml');
  const copy = path.join(root, 'node_modules', '.pnpm', 'lock.yaml');
  if (!existsSync(copy) || !existsSync(bin('tsx'))) return false;
  // pnpm keeps a copy of the lockfile it installed; a different one means new dependencies.
  return readFileSync(lock, 'utf8') === readFileSync(copy, 'utf8');
}

function install() {
  const args = ['install', '--frozen-lockfile', '--reporter=append-only'];
  const attempts = [
    ['corepack', ['pnpm', ...args]],
    ['npx', ['--yes', `pnpm@${pnpmVersion}`, ...args]],
  ];
  for (const [command, commandArgs] of attempts) {
    console.log(`installing dependencies: ${command} ${commandArgs.join(' ')}`);
    const result = spawnSync(command, commandArgs, { cwd: root, env, stdio: 'inherit' });
    if (result.status === 0) return;
  }
  console.error('could not install dependencies with pnpm (see above)');
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Runs vitest and ends with one plain line of counts, which CI reads. */
function runTests(args) {
  const report = path.join(root, '.data', 'vitest-report.json');
  const result = spawnSync(
    bin('vitest'),
    ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args],
    { cwd: root, env, stdio: 'inherit' },
  );
  if (existsSync(report)) {
    const { numPassedTests, numFailedTests, numPendingTests } = JSON.parse(readFileSync(report, 'utf8'));
    console.log(`vitest: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests} skipped`);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Runs a long-lived child and passes Ctrl-C and SIGTERM on to it. */
function handOver(command, args) {
  const child = spawn(command, args, { cwd: root, env, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const task = process.argv[2];
if (!installed()) install();
switch (task) {
  case 'test':
    console.log('typecheck: tsc');
    run(bin('tsc'), ['-p', 'tsconfig.json']);
    console.log('lint: eslint');
    run(bin('eslint'), ['--max-warnings', '0', '.']);
    runTests(process.argv.slice(3));
    break;
  case 'start':
    handOver(process.execPath, ['--import', 'tsx', 'scripts/start.ts']);
    break;
  case 'migrate':
    run(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts']);
    break;
  case 'keys':
    run(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...process.argv.slice(3)]);
    break;
  case 'scan':
    run(process.execPath, ['--import', 'tsx', 'scripts/scan.ts', ...process.argv.slice(3)]);
    break;
  case 'bench': {
    const [name, ...args] = process.argv.slice(3);
    if (!['licenses', 'scan', 'delivery', 'reports', 'links', 'metrics', 'crash'].includes(name)) {
      console.error('usage: node scripts/run.mjs bench licenses|scan|delivery|reports|links|metrics|crash [args]');
      process.exit(2);
    }
    run(process.execPath, ['--import', 'tsx', `bench/${name}.ts`, ...args]);
    break;
  }
  default:
    console.error(`usage: node scripts/run.mjs test|start|migrate|keys|scan|bench`);
    process.exit(2);
}
