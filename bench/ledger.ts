// The ledger's speed target of issue 12 (see bench/README.md, "Reports (issue 12): ledger"):
// - GET /v1/ledger.csv of the whole report store (bench/report-store.ts: 1,000,000 reminders,
//   about 1.5 million rows), downloaded over HTTP: at least 100,000 rows/s end to end, the
//   API's peak RSS under 300 MB;
// - beside it, the PostgreSQL-only floor: the same COPY (…) TO STDOUT through psql, into /dev/null.
// Run: flock /tmp/bench.lock node --import tsx bench/ledger.ts [again]
// (`again` keeps the seeded lr_bench when it holds the store, instead of seeding anew.)
// Knobs: BENCH_RUNS [3], BENCH_PORT [3902], and report-store.ts's BENCH_REMINDERS,
// BENCH_DATABASE_URL, BENCH_API_NODE_FLAGS.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { csvCopyStatement, ledgerQuery } from '@lr/db';
import { eventually, startService } from '@lr/testing';
import { cpuSecondsOf, median, postgresCpuSeconds, seconds } from './measure';
import { prepareReportStore, REPORT_BENCH } from './report-store';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PORT = Number(process.env.BENCH_PORT ?? 3902);
const say = (line: string) => console.log(line);
const n = (value: number) => Math.round(value).toLocaleString('en-US');

/** Peak resident memory of a process, from the kernel (VmHWM). */
function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/**
 * Downloads the whole ledger and counts its rows as a CSV reader would: line breaks outside
 * quotes (a name may hold one), less the header. Cheap: it jumps from quote to line break
 * with indexOf, so the client takes little of the two cores.
 */
function download(): Promise<{ seconds: number; rows: number; bytes: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: PORT, path: '/v1/ledger.csv', headers: { authorization: `Bearer ${REPORT_BENCH.adminKey}` } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`ledger: HTTP ${res.statusCode}`));
        let lines = 0;
        let bytes = 0;
        let quoted = false;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          let at = 0;
          for (;;) {
            const next = quoted ? chunk.indexOf(0x22, at) : nextOf(chunk, at);
            if (next < 0) break;
            if (chunk[next] === 0x22) quoted = !quoted;
            else lines += 1;
            at = next + 1;
          }
        });
        res.on('end', () => {
          if (!res.complete) return reject(new Error('ledger: the response was cut off'));
          resolve({ seconds: seconds(started), rows: lines - 1, bytes });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The first quote or line break from `at`, or -1. */
function nextOf(chunk: Buffer, at: number): number {
  const quote = chunk.indexOf(0x22, at);
  const newline = chunk.indexOf(0x0a, at);
  if (quote < 0) return newline;
  if (newline < 0) return quote;
  return Math.min(quote, newline);
}

/** The floor: psql runs the same COPY with copyCsv's settings, writing into /dev/null; PostgreSQL's own time. */
function copyFloor(statement: string): number {
  const script = `set timezone = '${REPORT_BENCH.timezone}';\nset datestyle = 'ISO, YMD';\nset jit = off;\n\\timing on\n\\o /dev/null\n${statement};\n`;
  const run = spawnSync('psql', [REPORT_BENCH.databaseUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { input: script, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return Number(/Time: ([\d.]+) ms/.exec(run.stdout)![1]) / 1000;
}

const { database, store } = await prepareReportStore(process.argv.includes('again'));
const expected = store.ledgerRows;
const api = startService('api', { ...REPORT_BENCH.apiEnv, PORT: String(PORT) }, REPORT_BENCH.apiNodeFlags);
try {
  await eventually(() => fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok || undefined, () => undefined), 30_000, 'the API ready');
  const pid = api.child.pid!;
  say(`API ready, RSS peak so far ${peakRssMb(pid).toFixed(0)} MB`);
  const statement = csvCopyStatement(database.db, ledgerQuery({}));
  const rates: number[] = [];
  const ratios: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const cpuBefore = { api: cpuSecondsOf(pid), postgres: postgresCpuSeconds() };
    const got = await download();
    const cpu = { api: cpuSecondsOf(pid) - cpuBefore.api, postgres: postgresCpuSeconds() - cpuBefore.postgres };
    if (got.rows !== expected) throw new Error(`ledger: ${got.rows} rows, expected ${expected}`);
    const floor = copyFloor(statement);
    rates.push(got.rows / got.seconds);
    ratios.push(got.seconds / floor);
    say(
      `run ${run}: ${n(got.rows)} rows (${(got.bytes / 1e6).toFixed(0)} MB) in ${got.seconds.toFixed(2)} s, ${n(got.rows / got.seconds)} rows/s; ` +
        `CPU: API ${cpu.api.toFixed(1)} s, PostgreSQL ${cpu.postgres.toFixed(1)} s; ` +
        `floor (COPY alone) ${floor.toFixed(2)} s, ${n(got.rows / floor)} rows/s; ratio ${(got.seconds / floor).toFixed(2)}x`,
    );
  }
  say(
    `ledger, median of ${RUNS}: ${n(median(rates))} rows/s (target >= 100,000), ${median(ratios).toFixed(2)}x the COPY floor; ` +
      `API peak RSS ${peakRssMb(pid).toFixed(0)} MB (target < 300 MB)`,
  );
} finally {
  const code = await api.stop();
  if (code !== 0) say(`API exited with ${code}:\n${api.output().slice(-2000)}`);
  await database.close();
}
