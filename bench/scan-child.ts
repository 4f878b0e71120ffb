// One scan, in a process of its own and wired as services/scheduler/src/main.ts wires it,
// so that its peak RSS is the scheduler's. Run by bench/scan.ts:
//   node --import tsx bench/scan-child.ts <asOf>
// with DATABASE_URL, REDIS_URL and QUEUE_PREFIX in the environment. Prints one JSON line
// (ScanResult); the scan's log goes to stderr. BENCH_CAPTURE_FILE, when set, receives the
// SQL and parameters of createDueReminders' statements and the scan's id, for EXPLAIN.
import { writeFileSync } from 'node:fs';
import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import { cpuSecondsOf } from './measure';
import type { ScanResult } from './scan-common';

const asOf = process.argv[2];
if (!asOf) throw new Error('usage: scan-child.ts <asOf>');
const captureFile = process.env.BENCH_CAPTURE_FILE;

const config = loadConfig('scheduler');
const log = createLogger('scheduler', config.logLevel, { write: (line: string) => void process.stderr.write(line) });
const database = connect(config.databaseUrl, { max: 4, applicationName: 'scheduler' });
const connection = redisConnection(config.redisUrl);
const queues = openMessageQueues(connection, config.queuePrefix);

let origin = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - origin) / 1e6;

/** The repository functions whose statements are known by their text. */
const KINDS: [RegExp, string][] = [
  [/pg_try_advisory_lock/, 'lock'],
  [/pg_advisory_unlock/, 'unlock'],
  [/^\s*begin/i, 'begin'],
  [/^\s*commit/i, 'commit'],
  [/^\s*rollback/i, 'rollback'],
  [/^insert into "scans"/, 'startScan'],
  [/^update "scans" .*"status" = \$\d+ returning "id"/s, 'abandonInterruptedScans'],
  [/^update "scans"/, 'finishScan'],
  [/update reminders r set outcome = 'expired'/, 'expireReminders'],
  [/from "categories"/, 'categoriesForScan'],
  [/^\s*with moved as/, 'markQueued'],
];
/** A statement in a few words: its function's name, or the table it writes. */
function label(text: string): string {
  const known = KINDS.find(([pattern]) => pattern.test(text));
  if (known) return known[1];
  const write = /\b(insert into|update|delete from)\s+"?(\w+)"?/i.exec(text);
  if (write) return `${write[1]!.toLowerCase()} ${write[2]}`;
  return text.replace(/\s+/g, ' ').trim().split(' from ')[0]!.slice(0, 40);
}

// Every statement's span, timed at the driver: the scan's code stays as it is. The statements
// between categoriesForScan and the commit are createDueReminders': kept for EXPLAIN.
const statements: ScanResult['statements'] = [];
const captured: { sql: string; params: unknown }[] = [];
let inDue = false;
database.pool.on('connect', (client) => {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as { query: typeof query }).query = async (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : '';
    const what = label(text);
    const start = now();
    try {
      return await query(...args);
    } finally {
      if (what === 'commit' || what === 'rollback') inDue = false;
      statements.push({ what, start, end: now(), due: inDue });
      if (inDue) captured.push({ sql: text, params: args[1] });
      if (what === 'categoriesForScan') inDue = true;
    }
  };
});

let addBulkSeconds = 0;
let addBulkCalls = 0;
for (const queue of [queues.sms, queues.push]) {
  const addBulk = queue.addBulk.bind(queue);
  queue.addBulk = (async (jobs: Parameters<typeof addBulk>[0]) => {
    const start = now();
    try {
      return await addBulk(jobs);
    } finally {
      addBulkSeconds += (now() - start) / 1000;
      addBulkCalls++;
    }
  }) as typeof queue.addBulk;
}

// The scheduler's Redis connection is open long before its daily tick.
await connection.ping();
const cpuBefore = process.cpuUsage();
origin = process.hrtime.bigint();
// The benchmark's own store, scanned for the dates it chooses (runScan scans the date it is given).
const scanDeps = { db: database.db, queues, log, followUpDays: config.followUpDays };
const summary = await runScan(scanDeps, { asOf, trigger: 'command' });
const elapsed = now() / 1000;
if (captureFile) writeFileSync(captureFile, JSON.stringify({ statements: captured, scanId: summary.id }));
const cpu = process.cpuUsage(cpuBefore);
// The scan runs on one connection, which the pool keeps open for a while: its backend's CPU time.
const { rows: backends } = await database.pool.query<{ pid: number }>(
  "select pid from pg_stat_activity where datname = current_database() and application_name = 'scheduler'",
);
const backendCpu = backends.reduce((total, { pid }) => total + cpuSecondsOf(pid), 0);
await queues.close();
await connection.quit();
await database.close();

const result: ScanResult = {
  asOf,
  scanId: summary.id,
  remindersCreated: summary.remindersCreated,
  messagesQueued: summary.messagesQueued,
  undeliverable: summary.undeliverable,
  seconds: elapsed,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  backendCpuSeconds: backendCpu,
  statements,
  addBulkSeconds,
  addBulkCalls,
};
console.log(JSON.stringify(result));
