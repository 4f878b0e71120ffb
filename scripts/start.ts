// npm start: everything a developer needs, in the foreground. Finds or starts PostgreSQL
// and Redis, migrates, loads demo data into an empty store, runs the API, the scheduler
// and both workers, and stops them all cleanly on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@lr/config';
import { connect, ensureDatabase, idSealer, migrate } from '@lr/db';
import { localDate } from '@lr/domain';
import { createLogger } from '@lr/log';
import { loadDemoData } from '@lr/demo/load';
import { ensurePostgres, ensureRedis, type Running } from './local-services';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (line: string) => console.log(`[start] ${line}`);
const SERVICES = ['api', 'scheduler', 'sms-worker', 'push-worker'] as const;

/**
 * The key that seals id numbers must outlive a restart, as the data does: kept in
 * .data/pii.key (never committed) unless PII_KEY is set.
 */
function localPiiKey(): string {
  const file = path.join(root, '.data', 'pii.key');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

async function main() {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The workers' log providers are expected here; a worker started any other way with them warns.
  env.NPM_START = 'on';
  env.ADMIN_API_KEY ||= `lr_admin_${randomBytes(18).toString('base64url')}`;
  env.INBOX_JWT_SECRET ||= randomBytes(32).toString('hex');
  env.PII_KEY ||= localPiiKey();
  // A demo: its scans may be for coming days, to show what they would send (and the log
  // providers send nothing). ALLOW_FUTURE_SCANS=off keeps them to today.
  env.ALLOW_FUTURE_SCANS ||= 'on';
  const config = loadConfig('api', env);

  const started: Running[] = [];
  const postgres = await ensurePostgres(config.databaseUrl, path.join(root, '.data', 'postgres'), say);
  started.push(postgres);
  started.push(await ensureRedis(config.redisUrl, say));
  env.DATABASE_URL = postgres.url;

  if (await ensureDatabase(postgres.url)) say('database created');
  const database = connect(postgres.url, { max: 4 });
  try {
    const applied = await migrate(database.db);
    say(applied.length ? `applied migrations: ${applied.map((m) => m.migrationName).join(', ')}` : 'schema is up to date');
    if (config.demoData) {
      // Ctrl-C during the load stops it between two days; the store is then emptied, and loaded anew next time.
      const interrupt = new AbortController();
      const stopLoading = () => interrupt.abort(new Error('demo data load interrupted; the store was left empty'));
      process.once('SIGINT', stopLoading).once('SIGTERM', stopLoading);
      const loaded = await loadDemoData(
        {
          db: database.db,
          sealer: idSealer(config.piiKey!),
          redisUrl: config.redisUrl,
          queuePrefix: config.queuePrefix,
          timezone: config.timezone,
          smsMaxPerRecipientPerDay: config.smsMaxPerRecipientPerDay,
          followUpDays: config.followUpDays,
          linkBaseUrl: config.linkBaseUrl,
          // The history's thousands of scans and sends would bury the start's own lines; its errors still show.
          log: createLogger('demo-history', 'error'),
          signal: interrupt.signal,
        },
        localDate(config.timezone),
      ).finally(() => process.off('SIGINT', stopLoading).off('SIGTERM', stopLoading));
      if (loaded) {
        say(
          `loaded demo data: ${loaded.categories} categories, ${loaded.licenses} licences, ` +
            `${loaded.days} days of history (scans, SMS and pushes by the log providers, ${loaded.renewals} renewals) in ${loaded.seconds.toFixed(1)} s`,
        );
      }
    }
  } finally {
    await database.close();
  }

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    for (const service of started.reverse()) await service.stop().catch(() => {});
    say('stopped');
    process.exit(code);
  };
  for (const name of SERVICES) {
    // The API's heap ceiling, as in docker-compose.yml: memory stays flat under large imports.
    const childEnv = name === 'api' ? { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --max-old-space-size=256`.trim() } : env;
    // node --import tsx: one process per service, which gets SIGTERM itself (see the Dockerfile).
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('services', name, 'src', 'main.ts')], { cwd: root, env: childEnv, stdio: 'inherit' });
    child.on('exit', (code) => {
      if (stopping) return;
      // Ctrl-C reaches every process of the terminal's group, so a service may stop first.
      if (code !== 0) say(`${name} exited (${code ?? 'signal'}); stopping the others`);
      void stopAll(code === 0 ? 0 : 1);
    });
    children.set(name, child);
  }
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  for (let i = 0; i < 100; i++) {
    const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(
    [
      '',
      `  API:        ${base}`,
      `  API docs:   ${base}/docs`,
      `  Queues:     ${base}/admin/queues  (user: anything, password: the admin key)`,
      `  Metrics:    ${base}/metrics  (Bearer: the admin key, or METRICS_TOKEN)`,
      `  Admin key:  ${env.ADMIN_API_KEY}`,
      '',
      `  try: curl -H "Authorization: Bearer ${env.ADMIN_API_KEY}" ${base}/v1/categories`,
      `  scan now: curl -X POST -H "Authorization: Bearer ${env.ADMIN_API_KEY}" ${base}/v1/scans`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  console.error(`[start] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
