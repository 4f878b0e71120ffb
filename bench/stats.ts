// The figures' speed target of issue 12 (see bench/README.md, "Reports (issue 12): figures"):
// GET /v1/stats for a whole year over the report store (bench/report-store.ts: 1,000,000
// reminders with their deliveries and renewals), with and without a region filter and with
// groupBy=month: at most 1 s, median of 5, over HTTP against the real API process.
// Beside each, the PostgreSQL-only floor: the bare aggregate of the same rows (the period's
// reminders joined to their licences and to their deliveries on each channel, counted).
// Run: flock /tmp/bench.lock node --import tsx bench/stats.ts [again]
import { spawnSync } from 'node:child_process';
import { allOf, reminderConditions, type ReportFilter } from '@lr/db';
import { eventually, startService } from '@lr/testing';
import { sql } from 'kysely';
import { median, seconds } from './measure';
import { prepareReportStore, REPORT_BENCH } from './report-store';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PORT = Number(process.env.BENCH_PORT ?? 3903);
const say = (line: string) => console.log(line);

const { database, store } = await prepareReportStore(process.argv.includes('again'));
const year = { from: store.firstAsOf, to: store.lastAsOf };
const CASES: { name: string; filter: ReportFilter; groupBy?: string }[] = [
  { name: 'a year', filter: year },
  { name: 'a year, one city (4112)', filter: { ...year, regionCode: '4112' } },
  { name: 'a year, groupBy=month', filter: year, groupBy: 'month' },
];

/** The floor: psql runs the bare aggregate of the same rows; PostgreSQL's own time. */
function floorSeconds(filter: ReportFilter): number {
  const { sql: text, parameters } = sql`
    select count(*), count(s.status), count(p.status), count(distinct l.holder_type)
      from reminders r
      join licenses l on l.id = r.license_id
      left join deliveries s on s.reminder_id = r.id and s.channel = 'sms'
      left join deliveries p on p.reminder_id = r.id and p.channel = 'push'
     where ${allOf(reminderConditions(filter))}`.compile(database.db);
  const statement = parameters.reduce<string>((q, value, i) => q.replace(`$${i + 1}`, `'${String(value)}'`), text);
  const script = `set jit = off;\nset work_mem = '256MB';\n\\timing on\n\\o /dev/null\n${statement};\n`;
  const run = spawnSync('psql', [REPORT_BENCH.databaseUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { input: script, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return Number(/Time: ([\d.]+) ms/.exec(run.stdout)![1]) / 1000;
}

const api = startService('api', { ...REPORT_BENCH.apiEnv, PORT: String(PORT) }, REPORT_BENCH.apiNodeFlags);
try {
  await eventually(() => fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.ok || undefined, () => undefined), 30_000, 'the API ready');
  for (const { name, filter, groupBy } of CASES) {
    const query = new URLSearchParams({ ...(filter as Record<string, string>), ...(groupBy && { groupBy }) });
    const times: number[] = [];
    const floors: number[] = [];
    let created = 0;
    for (let run = 0; run < RUNS; run++) {
      const started = process.hrtime.bigint();
      const res = await fetch(`http://127.0.0.1:${PORT}/v1/stats?${query.toString()}`, { headers: { authorization: `Bearer ${REPORT_BENCH.adminKey}` } });
      if (!res.ok) throw new Error(`stats: HTTP ${res.status} ${await res.text()}`);
      created = ((await res.json()) as { reminders: { created: number } }).reminders.created;
      times.push(seconds(started));
      floors.push(floorSeconds(filter));
    }
    say(
      `${name}: ${created.toLocaleString('en-US')} reminders; median of ${RUNS} ${median(times).toFixed(2)} s (target <= 1 s) ` +
        `[${times.map((t) => t.toFixed(2)).join(', ')}]; floor ${median(floors).toFixed(2)} s; ratio ${(median(times) / median(floors)).toFixed(1)}x`,
    );
  }
} finally {
  const code = await api.stop();
  if (code !== 0) say(`API exited with ${code}:\n${api.output().slice(-2000)}`);
  await database.close();
}
