// What a Prometheus scrape of /metrics costs at ten million deliveries (issue 14, finding 1;
// see bench/README.md, "Metrics scrape"). Over the report store (bench/report-store.ts) grown
// to 7,000,000 reminders (about 10 million deliveries) in a database of its own, with 5% of
// the licences given an open follow-up:
// - scrapes: 1,000 GET /metrics one after another over HTTP against the real API process,
//   with the metrics token; median and 99th percentile, beside GET /healthz (which does
//   nothing) measured the same way in the same run, as the floor;
// - what they cost the database: PostgreSQL's committed transactions on the database while
//   they ran (a scrape that queried it would add one each), and the time of the one query a
//   background refresh makes (at most every 30 s);
// - for comparison, what one scrape cost before: a count of the deliveries by status.
// Run: flock /tmp/bench.lock npm run bench:metrics [-- again]
import { spawnSync } from 'node:child_process';
import { eventually, startService } from '@lr/testing';
import { sql } from 'kysely';

process.env.BENCH_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/lr_bench_metrics';
process.env.BENCH_REMINDERS ??= '7000000';
const { prepareReportStore, REPORT_BENCH } = await import('./report-store');

const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 1000);
const PORT = Number(process.env.BENCH_PORT ?? 3905);
const METRICS_TOKEN = 'bench-metrics-token-0123456789abcdef';
const say = (line: string) => console.log(line);
const n = (value: number) => value.toLocaleString('en-US');

const { database, store } = await prepareReportStore(process.argv.includes('again'));
const { db } = database;

// Open follow-ups for one licence in twenty (a county's work list is far shorter).
const { open } = await sql<{ open: number }>`select count(*)::int as open from follow_ups where status = 'open'`
  .execute(db)
  .then((r) => r.rows[0]!);
if (open === 0) {
  await sql`
    insert into follow_ups (license_id, expires_on, reason)
    select id, expires_on, case when id % 3 = 0 then 'not_renewed' else 'unreached' end
      from licenses where id % 20 = 0`.execute(db);
  await sql`vacuum analyze follow_ups`.execute(db);
}
const counts = await sql<{ deliveries: number; followUps: number }>`
  select (select count(*)::int from deliveries) as "deliveries",
         (select count(*)::int from follow_ups where status = 'open') as "followUps"`
  .execute(db)
  .then((r) => r.rows[0]!);
say(`store: ${n(store.reminders)} reminders, ${n(counts.deliveries)} deliveries, ${n(counts.followUps)} open follow-ups`);

/** PostgreSQL's own time for `statement`, run by psql, median of three. */
function psqlMs(statement: string): number {
  const times = [0, 1, 2].map(() => {
    const run = spawnSync('psql', [REPORT_BENCH.databaseUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], {
      input: `\\timing on\n\\o /dev/null\n${statement};\n`,
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(run.stderr);
    return Number(/Time: ([\d.]+) ms/.exec(run.stdout)![1]);
  });
  return times.sort((a, b) => a - b)[1]!;
}

const committed = async () =>
  sql<{ xacts: string }>`select xact_commit::text as xacts from pg_stat_database where datname = current_database()`
    .execute(db)
    .then((r) => Number(r.rows[0]!.xacts));

async function timeRequests(path: string, headers: Record<string, string>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const started = process.hrtime.bigint();
    const res = await fetch(`http://127.0.0.1:${PORT}${path}`, { headers });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return times.sort((a, b) => a - b);
}
const at = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const api = startService('api', { ...REPORT_BENCH.apiEnv, PORT: String(PORT), METRICS_TOKEN }, REPORT_BENCH.apiNodeFlags);
try {
  await eventually(() => fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok || undefined, () => undefined), 60_000, 'the API ready');
  const bearer = { authorization: `Bearer ${METRICS_TOKEN}` };
  // The first scrape waits for the first count; the rest are what Prometheus sees.
  await fetch(`http://127.0.0.1:${PORT}/metrics`, { headers: bearer }).then((r) => r.arrayBuffer());
  const floor = await timeRequests('/healthz', {});
  // The statistics collector flushes a backend's counts when it goes idle: wait for it.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = await committed();
  const wall = process.hrtime.bigint();
  const scrapes = await timeRequests('/metrics', bearer);
  const seconds = Number(process.hrtime.bigint() - wall) / 1e9;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  // The first of our own two statistics queries is counted among them.
  const transactions = (await committed()) - before - 1;
  say(
    `${n(SCRAPES)} scrapes in ${seconds.toFixed(1)} s: median ${at(scrapes, 0.5).toFixed(2)} ms, p99 ${at(scrapes, 0.99).toFixed(2)} ms; ` +
      `floor (GET /healthz) median ${at(floor, 0.5).toFixed(2)} ms, p99 ${at(floor, 0.99).toFixed(2)} ms; ` +
      `ratio ${(at(scrapes, 0.5) / at(floor, 0.5)).toFixed(1)}x`,
  );
  say(`transactions on the database during the scrapes: ${transactions} (background refreshes, at most one per 30 s: ${Math.ceil(seconds / 30)})`);
  say(`one background refresh (open follow-ups by reason): ${psqlMs(`select reason, count(*)::int from follow_ups where status = 'open' group by reason`).toFixed(1)} ms`);
  say(`what one scrape used to cost (deliveries counted by status): ${psqlMs('select status, count(*) from deliveries group by status').toFixed(0)} ms`);
} finally {
  const code = await api.stop();
  if (code !== 0) say(`API exited with ${code}:\n${api.output().slice(-2000)}`);
  await database.close();
}
