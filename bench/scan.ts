// npm run bench:scan: the daily scan's speed targets of issue 4 (see bench/README.md).
// - a store of 10,000,000 licences, generated in SQL, expiry dates over five years
// - the daily scan (about 16,000 reminders): at most 3 s, the scheduler's peak RSS < 250 MB
// - a catch-up scan of ten days' due work (about 160,000 reminders): at most 25 s
// - beside each, the floor: the bare window query plus addBulk of as many jobs
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { categoriesForScan, connect, migrate, type DatabaseHandle } from '@lr/db';
import { addDays, dueWindows } from '@lr/domain';
import { redisConnection } from '@lr/jobs';
import {
  DATABASE_URL,
  QUEUE_PREFIX,
  REDIS_URL,
  joinedWindowQuery,
  narrowedWindows,
  rangesWindowQuery,
  type FloorResult,
  type ScanResult,
} from './scan-common';
import { median, seconds } from './measure';
import { runNode } from './child';
import { dropQueueKeys, recreateBenchDatabase, undoScan } from './bench-database';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LICENSES = Number(process.env.BENCH_LICENSES ?? 10_000_000);
/** The daily scan's date D; expiry dates run from D - 365 to D + 1460. */
const AS_OF = process.env.BENCH_AS_OF ?? '2027-03-01';
/** The daily scan runs this many times (its rows deleted in between); the catch-up once. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/**
 * 'scattered' (default): the licences of one expiry day lie all over the table, as in a store
 * loaded in no order of expiry; 'ordered': consecutive rows expire on consecutive days, so a
 * day's licences share pages with their neighbours' (kinder to the scan).
 */
const LAYOUT = process.env.BENCH_LAYOUT ?? 'scattered';
const CATCH_UP_DAYS = 10;
const DAYS = 1826;
const SEED_CHUNK = 2_500_000;
const CAPTURE_FILE = '/tmp/lr-bench-scan-statement.json';
const PLANS_FILE = '/tmp/lr-bench-scan-plans.txt';
const say = (line: string) => console.log(line);
const n = (value: number) => value.toLocaleString('en-US');

/** The store, generated in SQL; its secondary indexes are dropped during the seed and built after. */
async function seed(database: DatabaseHandle) {
  const client = await database.pool.connect();
  try {
    await client.query("set synchronous_commit = off; set maintenance_work_mem = '512MB'");
    const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
      `select indexname, indexdef from pg_indexes i
        where tablename = 'licenses' and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`,
    );
    for (const index of indexes) await client.query(`drop index ${index.indexname}`);
    // Day offset of licence g: a permutation of 0..1825 (677 is prime to 1826), so every day
    // has the same number of licences, and neighbouring rows expire months apart.
    const day = LAYOUT === 'ordered' ? `(g % ${DAYS})` : `((g::bigint * 677) % ${DAYS})::int`;
    const started = process.hrtime.bigint();
    for (let from = 1; from <= LICENSES; from += SEED_CHUNK) {
      const to = Math.min(LICENSES, from + SEED_CHUNK - 1);
      const chunk = process.hrtime.bigint();
      await client.query(
        `insert into licenses (category_code, license_no, holder_name, holder_type, holder_id_sealed, holder_id_hash,
                               holder_id_masked, phone, platform_user_id, region_code, valid_from, expires_on, status)
         select (array['food-business','public-hygiene','water-abstraction','road-transport'])[1 + (g / ${DAYS}) % 4],
                'SCAN' || lpad(g::text, 9, '0'),
                case when g % 3 = 0 then '个体户' || g else '卢氏县商户' || g || '有限公司' end,
                case when g % 3 = 0 then 'individual' else 'enterprise' end,
                decode(md5('i' || g) || md5('s' || g) || left(md5('t' || g), 28), 'hex'),
                sha256(('h' || g)::text::bytea),
                case when g % 3 = 0 then '411224**********' || lpad((g % 100)::text, 2, '0')
                     else '91411224MA******' || lpad((g % 100)::text, 2, '0') end,
                '+86138' || lpad(g::text, 8, '0'),
                case when hashint4(g) % 2 = 0 then 'hn-app-' || g end,
                (array['411224','411202','411203','411221','411281','411282'])[1 + g % 6],
                e.expires_on - 1825, e.expires_on,
                case when g % 100 = 55 then 'revoked' else 'active' end
           from generate_series($1::int, $2::int) g
          cross join lateral (select $3::date - 365 + ${day} as expires_on) e`,
        [from, to, AS_OF],
      );
      say(`  licences ${n(from)} to ${n(to)}: ${seconds(chunk).toFixed(1)} s`);
    }
    const inserted = seconds(started);
    const indexed = process.hrtime.bigint();
    for (const index of indexes) await client.query(index.indexdef);
    const indexSeconds = seconds(indexed);
    const vacuumed = process.hrtime.bigint();
    await client.query('vacuum analyze licenses');
    await client.query('checkpoint');
    say(
      `store: ${n(LICENSES)} licences (${LAYOUT}) seeded in ${(inserted + indexSeconds + seconds(vacuumed)).toFixed(0)} s ` +
        `(insert ${inserted.toFixed(0)} s, ${indexes.map((i) => i.indexname).join(', ')} ${indexSeconds.toFixed(0)} s, ` +
        `vacuum analyze and checkpoint ${seconds(vacuumed).toFixed(0)} s)`,
    );
    const { rows } = await client.query<{ table: string; indexes: string }>(
      `select pg_size_pretty(pg_table_size('licenses')) as table, pg_size_pretty(pg_indexes_size('licenses')) as indexes`,
    );
    say(`  licenses: table ${rows[0]!.table}, indexes ${rows[0]!.indexes}`);
  } finally {
    client.release();
  }
}

type Redis = ReturnType<typeof redisConnection>;

/** A digest of the scan's code and schema, to notice a change between the start and a measured scan. */
function codeVersion(): string {
  const files = ['packages/scan/src', 'packages/db/src', 'packages/jobs/src', 'migrations'].flatMap((dir) =>
    readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((file) => path.join(ROOT, dir, file)),
  );
  const hash = createHash('sha256');
  for (const file of files.sort()) if (statSync(file).isFile()) hash.update(file).update(readFileSync(file));
  return hash.digest('hex');
}

/** The scan child's settings, as the scheduler reads them. */
const childEnv = { DATABASE_URL, REDIS_URL, QUEUE_PREFIX, BENCH_CAPTURE_FILE: CAPTURE_FILE };

interface Measured {
  scan: ScanResult;
  floor: FloorResult;
}

/**
 * One measured scan and its floor. Before it: empty queues, the outbox tables vacuumed (as
 * autovacuum would have, which is off on this server) and a checkpoint, so that every scan
 * pays, as the daily one does, the full-page images of the first change to each page.
 */
async function measure(database: DatabaseHandle, redis: Redis, asOf: string, label: string): Promise<Measured> {
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  await database.pool.query('vacuum analyze scans, reminders, outgoing_messages, deliveries, delivery_events');
  await database.pool.query('checkpoint');
  const load = loadavg()[0]!.toFixed(2);
  const scan = await runNode<ScanResult>('bench/scan-child.ts', [asOf], { ...childEnv, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' });
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  const floor = await runNode<FloorResult>('bench/scan-floor.ts', [String(scan.scanId), asOf, String(scan.messagesQueued)]);
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  const floorSeconds = floor.querySeconds + floor.addBulkSeconds;
  if (codeVersion() !== codeAtStart) say('  (the scan code or the migrations changed since the bench started)');
  say(
    `${label} as of ${asOf}: ${n(scan.remindersCreated)} reminders, ${n(scan.messagesQueued)} messages queued ` +
      `in ${scan.seconds.toFixed(2)} s; scheduler peak RSS ${scan.peakRssMb.toFixed(0)} MB (load average before: ${load})`,
  );
  say(
    `  floor: ${floorSeconds.toFixed(2)} s (window query ${floor.querySeconds.toFixed(2)} s for ${n(floor.rows)} rows, ` +
      `addBulk of ${n(floor.jobs)} jobs ${floor.addBulkSeconds.toFixed(2)} s); ratio ${(scan.seconds / floorSeconds).toFixed(1)}x`,
  );
  if (floor.rows !== scan.remindersCreated) say(`  (the floor's window found ${n(floor.rows)} rows, the scan created ${n(scan.remindersCreated)})`);
  say(`  phases: ${phases(scan)}`);
  say(
    `  CPU: scan process ${scan.cpuSeconds.toFixed(2)} s, its PostgreSQL backend ${scan.backendCpuSeconds.toFixed(2)} s; ` +
      `the scan's windows hold ${n(floor.fullWindowRows)} licences (bare select of them as the scan joins them ` +
      `${floor.fullJoinedSeconds.toFixed(2)} s, as ranges ${floor.fullRangesSeconds.toFixed(2)} s)`,
  );
  return { scan, floor };
}

/** The time of the scan's follow-up statements (follow-up.repository): those that write follow_ups. */
function followUpMs(scan: ScanResult): number {
  return scan.statements.filter((st) => st.what.endsWith('follow_ups')).reduce((t, st) => t + st.end - st.start, 0);
}

/**
 * The scan's time by phase: before the window; createDueReminders' statements; the commit;
 * enqueue and markQueued (which may overlap) up to finishScan; the end.
 */
function phases(scan: ScanResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const took = (st: { start: number; end: number }) => st.end - st.start;
  const sum = (what: string) => scan.statements.filter((st) => st.what === what).reduce((t, st) => t + took(st), 0);
  const due = scan.statements.filter((st) => st.due);
  if (due.length === 0) return `${s(scan.seconds * 1000)} in all (no reminders' statements recognised)`;
  const commit = scan.statements.find((st) => st.what === 'commit' && st.start >= due.at(-1)!.end);
  const finish = scan.statements.find((st) => st.what === 'finishScan');
  const marks = scan.statements.filter((st) => st.what === 'markQueued');
  const parts = [
    // Issue 13's target: opening and closing follow-ups adds at most 10% to the scan.
    `follow-ups ${s(followUpMs(scan))} (${((100 * followUpMs(scan)) / (scan.seconds * 1000)).toFixed(1)}% of the scan)`,
    `before the window ${s(due[0]!.start)} (expireReminders ${s(sum('expireReminders'))})`,
    `createDueReminders ${s(due.at(-1)!.end - due[0]!.start)} (${due.map((st) => `${st.what} ${s(took(st))}`).join(', ')})`,
    `commit ${s(sum('commit'))}`,
  ];
  if (commit && finish) {
    parts.push(
      `enqueue and markQueued ${s(finish.start - commit.end)} (addBulk ${scan.addBulkSeconds.toFixed(2)} s in ${scan.addBulkCalls} calls, ` +
        `markQueued ${s(sum('markQueued'))} in ${marks.length} statements)`,
      `finishScan and after ${s(scan.seconds * 1000 - finish.start)}`,
    );
  }
  return parts.join(', ');
}

/** The plan of a select, run (EXPLAIN (ANALYZE, BUFFERS)). */
async function explain(database: DatabaseHandle, query: { text: string; values: unknown[] }): Promise<string> {
  const { rows } = await database.pool.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${query.text}`, query.values);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

/**
 * The plans of createDueReminders' statements, as the last scan child ran them, run for real
 * in one transaction under a scan row of its own and rolled back, their dates moved by `days`.
 */
async function explainDue(database: DatabaseHandle, days: number): Promise<string> {
  const captured = JSON.parse(readFileSync(CAPTURE_FILE, 'utf8')) as { statements: { sql: string; params: unknown[] }[]; scanId: number };
  const client = await database.pool.connect();
  const plans: string[] = [];
  try {
    await client.query('begin');
    const scan = await client.query<{ id: number }>(`insert into scans (as_of, trigger) values ('2000-01-01', 'command') returning id`);
    const shift = (value: unknown): unknown =>
      Array.isArray(value) ? value.map(shift) : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? addDays(value, days) : value;
    for (const statement of captured.statements) {
      // The scan id is a parameter of its own (the window's leads are an array).
      const params = statement.params.map((value) => (value === captured.scanId ? scan.rows[0]!.id : shift(value)));
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, wal) ${statement.sql}`, params);
      plans.push(`${statement.sql.trim()}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    }
  } catch (error) {
    plans.push(`(EXPLAIN failed: ${(error as Error).message})`);
  } finally {
    await client.query('rollback');
    client.release();
  }
  return plans.join('\n\n');
}

/** The execution time of each plan in `plans`, for the log. */
function executionTimes(plans: string): string {
  return [...plans.matchAll(/Execution Time: ([\d.]+) ms/g)].map((m) => `${(Number(m[1]) / 1000).toFixed(2)} s`).join(', ');
}

// `npm run bench:scan -- again` keeps the seeded store: it migrates (a new index, say),
// undoes the scans as of D and later, and measures again.
const again = process.argv.slice(2).includes('again');
const total = process.hrtime.bigint();
say(`daily scan bench: ${n(LICENSES)} licences, D = ${AS_OF}, ${RUNS} daily runs, layout ${LAYOUT}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
// Which code was measured: the scan may be changing while it is benchmarked.
const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trimEnd();
const changed = git('status', '--short', '--', 'packages', 'services', 'migrations').split('\n').filter(Boolean);
say(`code: ${git('rev-parse', '--short', 'HEAD')}${changed.length ? `, uncommitted: ${changed.map((l) => l.slice(3)).join(' ')}` : ''}`);
const codeAtStart = codeVersion();
const database = again ? connect(DATABASE_URL, { max: 4 }) : await recreateBenchDatabase(DATABASE_URL);
const redis = redisConnection(REDIS_URL);
try {
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  if (again) {
    await migrate(database.db);
    const { rows } = await database.pool.query<{ id: number }>('select id from scans where as_of >= $1 order by id desc', [AS_OF]);
    for (const { id } of rows) await undoScan(database, id);
    say(`again: the store kept, ${rows.length} scans as of ${AS_OF} or later undone`);
  } else {
    await seed(database);
    // Steady state: yesterday's scan has run, so today's finds only the licences entering a window.
    const yesterday = addDays(AS_OF, -1);
    const first = await runNode<ScanResult>('bench/scan-child.ts', [yesterday], { ...childEnv, LOG_LEVEL: 'warn' });
    await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
    say(
      `steady state: the scan as of ${yesterday} (D-1) into an empty outbox: ${n(first.remindersCreated)} reminders, ` +
        `${n(first.messagesQueued)} messages in ${first.seconds.toFixed(1)} s, peak RSS ${first.peakRssMb.toFixed(0)} MB (not a target)`,
    );
    say(`  phases: ${phases(first)}`);
  }
  await database.pool.query('vacuum analyze');

  const plans: string[] = [];
  // The window as of D, as a select: as the scan joins it, and as ranges.
  const windows = dueWindows(await categoriesForScan(database.db), AS_OF);
  const joinedPlan = await explain(database, joinedWindowQuery(windows));
  const rangesPlan = await explain(database, rangesWindowQuery(windows));
  say(`\nthe scan's window as of ${AS_OF}, as the scan joins it, as a select (EXPLAIN (ANALYZE, BUFFERS)):\n${joinedPlan}\n`);
  say(`the same windows as ranges: ${executionTimes(rangesPlan)}, ${/Bitmap Index Scan on \w+|Index Scan using \w+|Seq Scan on \w+/.exec(rangesPlan)?.[0]}\n`);
  plans.push(`-- the window as of ${AS_OF}, as the scan joins it\n${joinedPlan}`, `-- the same windows as ranges\n${rangesPlan}`);

  const daily: Measured[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const measured = await measure(database, redis, AS_OF, `daily scan, run ${run}`);
    daily.push(measured);
    if (run === 1) {
      const floorPlan = await explain(database, rangesWindowQuery(await narrowedWindows(database.pool, measured.scan.scanId)));
      plans.push(`-- the floor's window query, as of ${AS_OF}\n${floorPlan}`);
    }
    if (run === 1 || run < RUNS) await undoScan(database, measured.scan.scanId);
    // Between the first run and the second, createDueReminders' statements as the first ran them.
    if (run === 1) {
      const due = await explainDue(database, 0);
      plans.push(`-- createDueReminders as of ${AS_OF} (rolled back)\n${due}`);
      say(`  EXPLAIN ANALYZE of createDueReminders' statements (rolled back): ${executionTimes(due)}`);
    }
  }
  if (RUNS === 1) {
    await runNode<ScanResult>('bench/scan-child.ts', [AS_OF], { ...childEnv, LOG_LEVEL: 'warn' });
    say('(the daily scan ran once more, unmeasured, after the EXPLAIN)');
  }

  const catchUpDate = addDays(AS_OF, CATCH_UP_DAYS);
  // The capture is the last daily scan's.
  const due = await explainDue(database, CATCH_UP_DAYS);
  plans.push(`-- createDueReminders as of ${catchUpDate} (rolled back)\n${due}`);
  say(`EXPLAIN ANALYZE of createDueReminders' statements as of ${catchUpDate} (rolled back): ${executionTimes(due)}`);
  const catchUp = await measure(database, redis, catchUpDate, `catch-up scan (${CATCH_UP_DAYS} days)`);
  writeFileSync(PLANS_FILE, plans.join('\n\n') + '\n');

  const ratio = (m: Measured) => m.scan.seconds / (m.floor.querySeconds + m.floor.addBulkSeconds);
  const list = (values: number[], digits = 2) => values.map((v) => v.toFixed(digits)).join(', ');
  say('\nsummary');
  say(
    `daily scan (${n(daily[0]!.scan.remindersCreated)} reminders, ${n(daily[0]!.scan.messagesQueued)} messages): ` +
      `median ${median(daily.map((m) => m.scan.seconds)).toFixed(2)} s (${list(daily.map((m) => m.scan.seconds))}), target <= 3 s; ` +
      `floor ${list(daily.map((m) => m.floor.querySeconds + m.floor.addBulkSeconds))} s; ` +
      `ratio median ${median(daily.map(ratio)).toFixed(1)}x (${list(daily.map(ratio), 1)}); ` +
      `peak RSS ${list(daily.map((m) => m.scan.peakRssMb), 0)} MB, target < 250 MB`,
  );
  const share = (m: Measured) => followUpMs(m.scan) / (m.scan.seconds * 1000);
  say(
    `follow-ups in the daily scan: ${list(daily.map((m) => followUpMs(m.scan) / 1000))} s, ` +
      `median ${(100 * median(daily.map(share))).toFixed(1)}% of the scan (target <= 10%)`,
  );
  say(
    `catch-up scan (${n(catchUp.scan.remindersCreated)} reminders, ${n(catchUp.scan.messagesQueued)} messages): ` +
      `${catchUp.scan.seconds.toFixed(1)} s, target <= 25 s; floor ${(catchUp.floor.querySeconds + catchUp.floor.addBulkSeconds).toFixed(1)} s; ` +
      `ratio ${ratio(catchUp).toFixed(1)}x; peak RSS ${catchUp.scan.peakRssMb.toFixed(0)} MB`,
  );
  say(`plans: ${PLANS_FILE}`);
} finally {
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  await redis.quit();
  await database.close();
  say(`total ${(seconds(total) / 60).toFixed(1)} min (${new URL(DATABASE_URL).pathname.slice(1)} kept for psql)`);
}
