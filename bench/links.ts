// The renewal links' speed target of issue 13 (see bench/README.md, "Renewal links (issue 13)"):
// GET /r/{token} on one API process against real PostgreSQL: at least 3,000 openings a second
// with a p99 under 50 ms, over many distinct tokens, measured with autocannon.
// Beside it, in the same run, two floors:
// - HTTP: the same autocannon run against a bare Node http server (its own process) that
//   answers every request with a 302 and touches no database;
// - database: the route's one statement (openLink: read the link's licences, record the
//   opening) run back to back by pg, as many at once as autocannon's connections, through a
//   pool of the API's size (10).
// Run: flock /tmp/bench.lock node --import tsx bench/links.ts   (or npm run bench:links)
// Knobs: BENCH_MESSAGES [100,000] (a fifth carry two licences, the rest one), BENCH_SECONDS
// [10], BENCH_WARMUP_SECONDS [3], BENCH_CONNECTIONS [16], BENCH_PORT [3905],
// BENCH_LINKS_DATABASE_URL [postgres://postgres@127.0.0.1:5432/lr_bench_links],
// BENCH_API_NODE_FLAGS [--max-old-space-size=256].
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import autocannon, { type Result } from 'autocannon';
import { connect, daysLeft, openLink } from '@lr/db';
import { localDate, oldestWorkingExpiry } from '@lr/domain';
import { eventually, startService } from '@lr/testing';
import { sql } from 'kysely';
import { recreateBenchDatabase } from './bench-database';
import { cpuSecondsOf, postgresCpuSeconds, seconds } from './measure';

const DATABASE_URL = process.env.BENCH_LINKS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/lr_bench_links';
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PORT = Number(process.env.BENCH_PORT ?? 3905);
const FLOOR_PORT = PORT + 1;
const TIMEZONE = 'Asia/Shanghai';
const say = (line: string) => console.log(line);
const n = (value: number) => Math.round(value).toLocaleString('en-US');

const today = localDate(TIMEZONE);
const doubles = Math.floor(MESSAGES / 5);

// ---- the store ------------------------------------------------------------------------------

const started = process.hrtime.bigint();
const database = await recreateBenchDatabase(DATABASE_URL);
await database.db.connection().execute(async (c) => {
  await sql`set synchronous_commit = off`.execute(c);
  // The food licence's renewal address takes the licence number, which the API encodes.
  await sql`update categories set renewal_url = 'https://www.hnzwfw.gov.cn/ls/spjy?no={licenseNo}' where code = 'food-business'`.execute(c);
  await sql`insert into scans (id, as_of, trigger, status, finished_at) overriding system value values (1, ${today}::date, 'cron', 'succeeded', now())`.execute(c);
  // Licences 2g-1 and 2g share message g for g <= doubles; licence g + doubles has message g alone after that.
  await sql`
    insert into licenses (id, category_code, license_no, holder_name, holder_type, holder_id_sealed, holder_id_hash,
                          holder_id_masked, phone, region_code, valid_from, expires_on)
    overriding system value
    select k, (array['food-business', 'public-hygiene', 'road-transport', 'water-abstraction'])[1 + k % 4],
           'JY 411224/' || lpad(k::text, 8, '0'), '卢氏县' || k || '号餐饮有限公司', 'enterprise',
           decode(md5(k::text), 'hex'), decode(md5('h' || k), 'hex'), '914***********' || lpad((k % 10000)::text, 4, '0'),
           '+86138' || lpad(m::text, 8, '0'), '411224', ${today}::date - 1000, ${today}::date + 20 + k % 40
      from (select k, case when k <= 2 * ${doubles}::int then (k + 1) / 2 else k - ${doubles}::int end as m
              from generate_series(1, ${MESSAGES + doubles}::int) k) g`.execute(c);
  await sql`
    insert into reminders (id, license_id, expires_on, lead_days, as_of, days_left, scan_id)
    overriding system value
    select id, id, expires_on, 60, ${today}::date, ${daysLeft(sql.ref('expires_on'), today)}, 1 from licenses`.execute(c);
  // The messages were sent and delivered; each has its token from the column's default.
  await sql`
    insert into outgoing_messages (id, scan_id, channel, recipient, status, attempts, provider_message_id, sent_at, delivered_at)
    overriding system value
    select m, 1, 'sms', '+86138' || lpad(m::text, 8, '0'), 'delivered', 1, 'SM' || m, now(), now()
      from generate_series(1, ${MESSAGES}::int) m`.execute(c);
  await sql`
    insert into deliveries (id, reminder_id, channel, message_id, status)
    overriding system value
    select r.id, r.id, 'sms', case when r.id <= 2 * ${doubles}::int then (r.id + 1) / 2 else r.id - ${doubles}::int end, 'delivered'
      from reminders r`.execute(c);
});
// Statistics for the planner, and the seeding's writes out of the way of the measured run.
await sql`vacuum analyze`.execute(database.db);
await sql`checkpoint`.execute(database.db);
const { rows: tokens } = await sql<{ linkToken: string }>`select link_token from outgoing_messages order by hashint4(id)`.execute(database.db);
const paths = tokens.map((t) => `/r/${t.linkToken}`);
say(
  `links bench: ${n(MESSAGES)} messages (${n(doubles)} of two licences), ${n(MESSAGES + doubles)} licences, seeded in ${seconds(started).toFixed(1)} s; ` +
    `${CONNECTIONS} connections, ${WARMUP} s warm-up, ${DURATION} s measured; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);

// ---- measuring --------------------------------------------------------------------------------

/** One autocannon run against `port`, each request a token after the last (all distinct until they run out). */
function hammer(port: number, duration: number): Promise<Result> {
  let next = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length] }),
      },
    ],
  });
}

function line(name: string, r: Result): string {
  const codes = Object.entries(r.statusCodeStats)
    .map(([code, { count }]) => `${code}: ${n(count)}`)
    .join(', ');
  return `${name}: ${n(r.requests.average)} requests/s (${n(r.requests.total)} in ${r.duration.toFixed(1)} s), latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms; ${codes}; errors ${r.errors}, timeouts ${r.timeouts}`;
}

/** The database floor: openLink back to back, CONNECTIONS at once through a pool of 10, for `duration` seconds. */
async function databaseFloor(duration: number): Promise<{ perSecond: number; p99: number; count: number }> {
  const pool = connect(DATABASE_URL, { max: 10, applicationName: 'bench-links-floor' });
  const oldest = oldestWorkingExpiry(today);
  const latencies: number[] = [];
  let next = 0;
  const deadline = Date.now() + duration * 1000;
  const begun = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < deadline) {
        const at = process.hrtime.bigint();
        const opened = await openLink(pool.db, tokens[next++ % tokens.length]!.linkToken, oldest);
        if (!opened?.works) throw new Error('the floor opened a link that does not work');
        latencies.push(Number(process.hrtime.bigint() - at) / 1e6);
      }
    }),
  );
  const elapsed = seconds(begun);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, p99: latencies[Math.floor(latencies.length * 0.99)]!, count: latencies.length };
}

const BARE_SERVER = `
  require('node:http').createServer((req, res) => {
    res.writeHead(302, { location: 'https://www.hnzwfw.gov.cn/ls/spjy?no=JY%20411224%2F00000001' });
    res.end();
  }).listen(${FLOOR_PORT}, '127.0.0.1');
`;

const api = startService(
  'api',
  {
    DATABASE_URL,
    ADMIN_API_KEY: 'bench-admin-key-0123456789abcdef',
    INBOX_JWT_SECRET: 'bench-inbox-secret-0123456789abcdef01',
    PII_KEY: 'bench-pii-key-0123456789abcdef0123456789',
    QUEUE_PREFIX: 'lr-bench-links',
    REMINDER_TIMEZONE: TIMEZONE,
    // One client address for every request: the bench is not what the rate limit is for.
    RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
    PORT: String(PORT),
  },
  (process.env.BENCH_API_NODE_FLAGS ?? '--max-old-space-size=256').split(' ').filter(Boolean),
);
const bare = spawn(process.execPath, ['-e', BARE_SERVER], { stdio: 'ignore' });
try {
  await eventually(() => fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok || undefined, () => undefined), 30_000, 'the API ready');
  await eventually(() => fetch(`http://127.0.0.1:${FLOOR_PORT}/`, { redirect: 'manual' }).then((r) => r.status === 302 || undefined, () => undefined), 10_000, 'the bare server');
  const pid = api.child.pid!;

  const warm = await hammer(PORT, WARMUP);
  say(line('warm-up', warm));
  const cpuBefore = { api: cpuSecondsOf(pid), postgres: postgresCpuSeconds(), bench: process.cpuUsage() };
  const measured = await hammer(PORT, DURATION);
  const bench = process.cpuUsage(cpuBefore.bench);
  const cpu = { api: cpuSecondsOf(pid) - cpuBefore.api, postgres: postgresCpuSeconds() - cpuBefore.postgres, autocannon: (bench.user + bench.system) / 1e6 };
  say(line('GET /r/{token}, the API', measured));
  say(`  CPU over ${DURATION} s: API ${cpu.api.toFixed(1)} s, PostgreSQL ${cpu.postgres.toFixed(1)} s, autocannon ${cpu.autocannon.toFixed(1)} s (2 cores: ${2 * DURATION} s)`);

  // Every answer a working link's: 302 for a message of one licence, 200 for one of two; each recorded.
  const answered = (r: Result) => Object.entries(r.statusCodeStats).reduce((sum, [code, { count }]) => sum + (code === '302' || code === '200' ? count : 0), 0);
  const wrong = [warm, measured].flatMap((r) => Object.keys(r.statusCodeStats).filter((code) => code !== '302' && code !== '200'));
  if (wrong.length > 0 || measured.errors > 0) throw new Error(`answers other than 302 and 200: ${wrong.join(', ')}; errors ${measured.errors}`);
  const { rows: recorded } = await sql<{ n: number }>`select count(*)::int as n from link_openings`.execute(database.db);
  say(`  openings recorded: ${n(recorded[0]!.n)} of ${n(answered(warm) + answered(measured))} answered`);

  const floorHttp = await hammer(FLOOR_PORT, DURATION);
  say(line('floor, bare http server (302, no database)', floorHttp));
  const floorDb = await databaseFloor(DURATION);
  say(`floor, openLink alone by pg (${CONNECTIONS} at once, pool of 10): ${n(floorDb.perSecond)} statements/s (${n(floorDb.count)}), p99 ${floorDb.p99.toFixed(1)} ms`);

  const rate = measured.requests.average;
  say(
    `renewal links: ${n(rate)} requests/s (target >= 3,000), p99 ${measured.latency.p99} ms (target < 50 ms); ` +
      `${(rate / floorHttp.requests.average).toFixed(2)} of the bare HTTP floor (${n(floorHttp.requests.average)}/s), ` +
      `${(rate / floorDb.perSecond).toFixed(2)} of the database floor (${n(floorDb.perSecond)}/s)`,
  );
} finally {
  bare.kill();
  const code = await api.stop();
  if (code !== 0) say(`API exited with ${code}:\n${api.output().slice(-2000)}`);
  await database.close();
}
