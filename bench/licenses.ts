// npm run bench:licenses: the licence store's speed targets of issue 3 (see bench/README.md).
// - a 10,000-licence batch upsert into a store of 1,000,000 licences (target <= 1 s)
// - a CSV import of 1,000,000 licences through the API (target >= 30,000 rows/s, API peak RSS < 300 MB)
// - beside them, the PostgreSQL-only floor: a plain COPY of the same CSV rows
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDays, creditCodeCheckChar, residentIdCheckChar } from '@lr/domain';
import { recreateBenchDatabase } from './bench-database';
import { cpuSecondsOf, median, postgresCpuSeconds, seconds } from './measure';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/lr_bench';
const STORE = Number(process.env.BENCH_STORE ?? 1_000_000);
const CSV_ROWS = Number(process.env.BENCH_CSV_ROWS ?? 1_000_000);
/** This machine's speed wanders by a sixth from one minute to the next: the import runs this many times (new licences each time). */
const IMPORT_RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 3);
const BATCH = 10_000;
const PORT = Number(process.env.BENCH_PORT ?? 3901);
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const CSV_FILE = '/tmp/lr-bench-licenses.csv';
const TODAY = '2026-11-22';
const say = (line: string) => console.log(line);
// As the API runs in production (Dockerfile, npm start): see bench/README.md.
const API_NODE_FLAGS = (process.env.BENCH_API_NODE_FLAGS ?? '--max-old-space-size=256').split(' ').filter(Boolean);

// Valid, varied identities: a credit code or a resident id with the right check character.
function creditCode(i: number): string {
  const body = `91411224MA${String(i).padStart(7, '0')}`;
  return body + creditCodeCheckChar(body);
}
function residentId(i: number): string {
  const body = `411224${1960 + (i % 40)}0${1 + (i % 9)}1${i % 10}${String(i % 1000).padStart(3, '0')}`;
  return body + residentIdCheckChar(body);
}

function licence(i: number, prefix: string, expiresOn: string) {
  const enterprise = i % 3 !== 0;
  return {
    categoryCode: 'food-business',
    licenseNo: `${prefix}${String(i).padStart(8, '0')}`,
    holderName: enterprise ? `卢氏县第${i}号餐饮有限公司` : `个体户${i}`,
    holderType: enterprise ? 'enterprise' : 'individual',
    holderIdNo: enterprise ? creditCode(i) : residentId(i),
    phone: `+86139${String(i % 100_000_000).padStart(8, '0')}`,
    platformUserId: i % 2 === 0 ? `hn-app-${i}` : '',
    regionCode: '411224',
    validFrom: '2021-06-01',
    expiresOn,
    status: 'active',
  };
}

async function prepareDatabase() {
  const database = await recreateBenchDatabase(DATABASE_URL);
  const started = process.hrtime.bigint();
  // The existing store, generated in SQL: expiry dates spread over five years.
  await database.pool.query(
    `insert into licenses (category_code, license_no, holder_name, holder_type, holder_id_sealed, holder_id_hash,
                           holder_id_masked, phone, platform_user_id, region_code, valid_from, expires_on, status)
     select (array['food-business','public-hygiene','water-abstraction','road-transport'])[1 + g % 4],
            'STORE' || lpad(g::text, 9, '0'), '商户' || g, 'enterprise',
            decode(md5(g::text) || md5('s' || g), 'hex'), decode(md5('h' || g) || md5('k' || g), 'hex'),
            '914***********001X', '+86138' || lpad((g % 100000000)::text, 8, '0'),
            case when g % 2 = 0 then 'hn-app-' || g end, '411224', date '2021-01-01',
            date '2026-01-01' + (g % 1826), 'active'
       from generate_series(1, $1::int) g`,
    [STORE],
  );
  await database.pool.query('vacuum analyze licenses');
  say(`store: ${STORE.toLocaleString()} licences seeded in ${seconds(started).toFixed(1)} s`);
  return database;
}

function startApi() {
  // node --import tsx: one process, so its RSS is the API's own.
  const child = spawn(process.execPath, ['--import', 'tsx', ...API_NODE_FLAGS, 'services/api/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL,
      PORT: String(PORT),
      ADMIN_API_KEY: ADMIN_KEY,
      INBOX_JWT_SECRET: 'bench-inbox-secret-0123456789abcdef01',
      PII_KEY: 'bench-pii-key-0123456789abcdef0123456789',
      QUEUE_PREFIX: 'lr-bench',
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

/** Peak resident memory of a process, from the kernel (VmHWM). */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/**
 * CPU seconds (user + system) used so far by the API process (all its threads) and by
 * PostgreSQL's processes: a figure that, unlike the wall time, hardly moves with what
 * else the machine is doing.
 */
function cpuSeconds(apiPid: number): { api: number; postgres: number } {
  return { api: cpuSecondsOf(apiPid), postgres: postgresCpuSeconds() };
}

async function post(pathname: string, body: Buffer | NodeJS.ReadableStream, contentType: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: PORT, path: pathname, method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${ADMIN_KEY}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

async function waitForApi() {
  for (let i = 0; i < 150; i++) {
    const ok = await fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the API did not become ready');
}

async function benchBatch() {
  const results: Record<string, number[]> = { created: [], renewed: [], unchanged: [] };
  for (let run = 0; run < 3; run++) {
    const prefix = `BATCH${run}-`;
    const fresh = Array.from({ length: BATCH }, (_, i) => licence(i, prefix, addDays(TODAY, 40 + (i % 300))));
    const renewed = fresh.map((l) => ({ ...l, expiresOn: addDays(l.expiresOn, 365) }));
    for (const [kind, rows] of [['created', fresh], ['renewed', renewed], ['unchanged', renewed]] as const) {
      const body = Buffer.from(JSON.stringify({ licenses: rows }));
      const started = process.hrtime.bigint();
      const res = await post('/v1/licenses/batch', body, 'application/json');
      const elapsed = seconds(started);
      const counts = JSON.parse(res.body) as Record<string, number>;
      if (res.status !== 200 || counts[kind] !== BATCH) throw new Error(`batch ${kind}: ${res.status} ${res.body.slice(0, 300)}`);
      results[kind]!.push(elapsed);
    }
  }
  for (const [kind, times] of Object.entries(results)) {
    say(`batch of ${BATCH.toLocaleString()} (${kind}) into ${STORE.toLocaleString()}: median ${median(times).toFixed(3)} s (runs: ${times.map((t) => t.toFixed(3)).join(', ')})`);
  }
}

async function writeCsv(prefix: string) {
  const out = createWriteStream(CSV_FILE);
  out.write('\uFEFFcategoryCode,licenseNo,holderName,holderType,holderIdNo,phone,platformUserId,regionCode,validFrom,expiresOn,status\n');
  for (let i = 0; i < CSV_ROWS; i++) {
    const l = licence(i, prefix, addDays(TODAY, i % 1826));
    const line = `${l.categoryCode},${l.licenseNo},${l.holderName},${l.holderType},${l.holderIdNo},${l.phone},${l.platformUserId},${l.regionCode},${l.validFrom},${l.expiresOn},${l.status}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  say(`csv: ${CSV_ROWS.toLocaleString()} rows, ${(statSync(CSV_FILE).size / 1e6).toFixed(0)} MB`);
}

async function benchImport(apiPid: number) {
  const cpuBefore = cpuSeconds(apiPid);
  const started = process.hrtime.bigint();
  const res = await post('/v1/licenses/import', createReadStream(CSV_FILE), 'text/csv');
  const elapsed = seconds(started);
  const counts = JSON.parse(res.body) as { created: number; rejectedCount: number };
  if (res.status !== 200 || counts.created !== CSV_ROWS) throw new Error(`import: ${res.status} ${res.body.slice(0, 500)}`);
  const rate = CSV_ROWS / elapsed;
  const cpu = cpuSeconds(apiPid);
  const perRow = (seconds: number) => ((seconds * 1e6) / CSV_ROWS).toFixed(1);
  say(`import of ${CSV_ROWS.toLocaleString()} rows through the API: ${elapsed.toFixed(1)} s, ${Math.round(rate).toLocaleString()} rows/s, API peak RSS ${peakRssMb(apiPid).toFixed(0)} MB`);
  say(
    `  CPU per row: API ${perRow(cpu.api - cpuBefore.api)} µs, PostgreSQL ${perRow(cpu.postgres - cpuBefore.postgres)} µs ` +
      `(two cores give ${perRow(2 * elapsed)} µs per row at this rate)`,
  );
  return elapsed;
}

/** The floor: PostgreSQL alone taking the same file with COPY, into a table of the same key. */
function benchCopyFloor(): number {
  const sql = `
    drop table if exists copy_floor;
    create table copy_floor (category_code text, license_no text, holder_name text, holder_type text, holder_id_no text,
      phone text, platform_user_id text, region_code text, valid_from date, expires_on date, status text,
      unique (category_code, license_no));
    \\timing on
    \\copy copy_floor from '${CSV_FILE}' with (format csv, header true, encoding 'UTF8')
    drop table copy_floor;`;
  const run = spawnSync('psql', [DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-q'], { input: sql, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  const ms = Number(/Time: ([\d.]+) ms/.exec(run.stdout)![1]);
  say(`floor: COPY of the same ${CSV_ROWS.toLocaleString()} rows into a table with the same unique key: ${(ms / 1000).toFixed(1)} s`);
  return ms / 1000;
}

// `npm run bench:licenses -- batch` or `-- import` runs one part; no argument runs both.
const parts = process.argv.slice(2);
const run = (part: string) => parts.length === 0 || parts.includes(part);
const database = await prepareDatabase();
const api = startApi();
try {
  await waitForApi();
  if (run('batch')) await benchBatch();
  if (run('import')) {
    const rates: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < IMPORT_RUNS; r++) {
      await writeCsv(`CSV${r}-`);
      const imported = await benchImport(api.pid!);
      const floor = benchCopyFloor();
      rates.push(CSV_ROWS / imported);
      ratios.push(imported / floor);
      say(`  ratio: the API's import takes ${(imported / floor).toFixed(1)}x the time of a bare COPY`);
      // Each run imports into a store of the same size.
      await database.pool.query(`delete from licenses where license_no like 'CSV${r}-%'`);
      await database.pool.query('vacuum analyze licenses');
    }
    say(
      `import, median of ${IMPORT_RUNS}: ${Math.round(median(rates)).toLocaleString()} rows/s, ${median(ratios).toFixed(1)}x the COPY floor; ` +
        `API peak RSS ${peakRssMb(api.pid!).toFixed(0)} MB`,
    );
  }
} finally {
  api.kill('SIGTERM');
  await once(api, 'exit');
  await database.close();
  say(`(${path.relative(ROOT, CSV_FILE) || CSV_FILE} kept for reruns)`);
}
