// The forecast's speed target of issue 12 (see bench/README.md, "Reports (issue 12): forecast"):
// - GET /v1/forecast of 366 days over the scan bench's store of 10,000,000 licences, over HTTP
//   against the real API process: at most 2 s, median of BENCH_RUNS;
// - beside it, the PostgreSQL-only floor: the bare aggregate over the same licences (per
//   category and expiry date: licences, phones, app accounts), run in psql.
// Run: flock /tmp/bench.lock node --import tsx bench/forecast.ts
// The store is bench/scan.ts's (lr_bench_scan, seeded in SQL, with that bench's scans): when it
// is missing, run `flock /tmp/bench.lock npm run bench:scan` first (`npm run bench:reports` does). This bench only migrates it
// (migration 0009's index, the first time: about 20 s) and reads it.
// Knobs: BENCH_RUNS [5], BENCH_PORT [3904], BENCH_AS_OF [2027-03-01, the scan bench's D: the
// forecast's first day], BENCH_DATABASE_URL, BENCH_API_NODE_FLAGS [--max-old-space-size=256].
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { connect, migrate } from '@lr/db';
import { addDays } from '@lr/domain';
import { eventually, startService } from '@lr/testing';
import { cpuSecondsOf, median, postgresCpuSeconds, seconds } from './measure';
import { DATABASE_URL } from './scan-common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PORT = Number(process.env.BENCH_PORT ?? 3904);
const FROM = process.env.BENCH_AS_OF ?? '2027-03-01';
const TO = addDays(FROM, 365);
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const say = (line: string) => console.log(line);
const n = (value: number) => Math.round(value).toLocaleString('en-US');

interface Forecast {
  items: { date: string; reminders: number; sms: number; push: number }[];
  totals: { reminders: number; sms: number; push: number };
}

/** Peak resident memory of a process, from the kernel (VmHWM). */
function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** The floor: psql runs the bare aggregate over the forecast's licences (those the index holds for its dates), PostgreSQL's own time. */
function floor(lastExpiry: string): number {
  const statement = `
    select category_code, expires_on, count(*), count(phone), count(platform_user_id)
      from licenses
     where status = 'active' and expires_on between '${FROM}' and '${lastExpiry}'
     group by 1, 2`;
  const script = `set jit = off;\nset work_mem = '256MB';\n\\timing on\n\\o /dev/null\n${statement};\n`;
  const run = spawnSync('psql', [DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { input: script, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return Number(/Time: ([\d.]+) ms/.exec(run.stdout)![1]) / 1000;
}

async function forecast(): Promise<{ seconds: number; body: Forecast }> {
  const started = process.hrtime.bigint();
  const res = await fetch(`http://127.0.0.1:${PORT}/v1/forecast?from=${FROM}&to=${TO}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const body = (await res.json()) as Forecast;
  if (res.status !== 200) throw new Error(`forecast: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { seconds: seconds(started), body };
}

const database = connect(DATABASE_URL, { max: 2 });
const { rows: store } = await database.pool.query<{ licences: number; reminders: number; longest: number }>(
  `select (select count(*)::int from licenses) as licences, (select count(*)::int from reminders) as reminders,
          (select max(l)::int from categories, unnest(lead_days) l where enabled) as longest`,
);
if (!store[0] || store[0].licences === 0) throw new Error(`${DATABASE_URL} holds no licences: run bench/scan.ts first`);
await migrate(database.db);
await database.pool.query('vacuum analyze licenses, reminders');
const lastExpiry = addDays(TO, store[0].longest);
say(
  `forecast bench: ${n(store[0].licences)} licences, ${n(store[0].reminders)} reminders made already; ` +
    `${FROM} to ${TO} (366 days), licences expiring up to ${lastExpiry}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);
const api = startService(
  'api',
  {
    DATABASE_URL,
    ADMIN_API_KEY: ADMIN_KEY,
    INBOX_JWT_SECRET: 'bench-inbox-secret-0123456789abcdef01',
    PII_KEY: 'bench-pii-key-0123456789abcdef0123456789',
    QUEUE_PREFIX: 'lr-bench-forecast',
    RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
    PORT: String(PORT),
  },
  (process.env.BENCH_API_NODE_FLAGS ?? '--max-old-space-size=256').split(' ').filter(Boolean),
);
try {
  await eventually(() => fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok || undefined, () => undefined), 30_000, 'the API ready');
  const pid = api.child.pid!;
  const times: number[] = [];
  const ratios: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const cpuBefore = { api: cpuSecondsOf(pid), postgres: postgresCpuSeconds() };
    const got = await forecast();
    const cpu = { api: cpuSecondsOf(pid) - cpuBefore.api, postgres: postgresCpuSeconds() - cpuBefore.postgres };
    if (got.body.items.length !== 366) throw new Error(`forecast: ${got.body.items.length} days, expected 366`);
    const bare = floor(lastExpiry);
    times.push(got.seconds);
    ratios.push(got.seconds / bare);
    say(
      `run ${run}: ${got.seconds.toFixed(2)} s (${n(got.body.totals.reminders)} reminders, ${n(got.body.totals.sms)} SMS, ${n(got.body.totals.push)} pushes); ` +
        `CPU: API ${cpu.api.toFixed(2)} s, PostgreSQL ${cpu.postgres.toFixed(2)} s; floor ${bare.toFixed(2)} s; ratio ${(got.seconds / bare).toFixed(1)}x`,
    );
  }
  say(
    `forecast of 366 days, median of ${RUNS}: ${median(times).toFixed(2)} s (target <= 2 s), ${median(ratios).toFixed(1)}x the bare aggregate; ` +
      `API peak RSS ${peakRssMb(pid).toFixed(0)} MB`,
  );
} finally {
  const code = await api.stop();
  if (code !== 0) say(`API exited with ${code}:\n${api.output().slice(-2000)}`);
  await database.close();
}
