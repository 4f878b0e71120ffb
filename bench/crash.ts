// npm run bench:crash: what a crash of the SMS worker repeats (issue 14, finding 8;
// bench/README.md, "Crashes").
// - N outgoing SMS (3,000 by default), each to a phone of its own, made by a scan as in
//   production, sent by one SMS worker process (services/sms-worker, the real `twilio`
//   package) against @lr/testing's fake Twilio at SMS_RATE_PER_SEC (1,000 by default)
// - the worker is SIGKILLed K times (3) while they go out, when the fake has accepted
//   1/(K+1), 2/(K+1)… of them, and started again at once; CLAIM_LEASE_SECONDS is 5 s
// - at each kill: the messages Twilio had accepted whose send PostgreSQL had not recorded yet
// - at the end: every message's status, the SMS the fake accepted, how many of them were a
//   second copy of one message (the duplicates), and the worker's look-ups at Twilio
// Settings: BENCH_CRASH_MESSAGES, BENCH_CRASH_KILLS, BENCH_CRASH_RATE, BENCH_CRASH_LEASE,
// BENCH_CRASH_RUNS (1), BENCH_DATABASE_URL, BENCH_REDIS_URL.
import { connect, type DatabaseHandle } from '@lr/db';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import { fakeTwilio, providerEnv, startService, type FakeTwilio, type ServiceProcess, FOLLOW_UP_DAYS } from '@lr/testing';
import { dropQueueKeys, recreateBenchDatabase, seedDueLicenses } from './bench-database';

const MESSAGES = Number(process.env.BENCH_CRASH_MESSAGES ?? 3_000);
const KILLS = Number(process.env.BENCH_CRASH_KILLS ?? 3);
const RATE = Number(process.env.BENCH_CRASH_RATE ?? 1_000);
const LEASE_SECONDS = Number(process.env.BENCH_CRASH_LEASE ?? 5);
const RUNS = Number(process.env.BENCH_CRASH_RUNS ?? 1);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/lr_bench_crash';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUE_PREFIX = 'lr-bench-crash';
/** The scan's date (after today: runScan scans the date it is given); the licences expire 11 to 30 days later. */
const AS_OF = '2027-03-01';

const say = (line: string) => console.log(line);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** N licences of the demo's food-business category, each with a phone of its own and no app account: one SMS each. */
async function seed(database: DatabaseHandle) {
  await seedDueLicenses(database, { count: MESSAGES, asOf: AS_OF, prefix: 'CRS', appUsers: false });
}

async function statuses(database: DatabaseHandle): Promise<Record<string, number>> {
  const { rows } = await database.pool.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from outgoing_messages where channel = 'sms' group by status order by status`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** The fake's Messages list requests: the worker's look-ups (an older fake, which had none, counts none). */
function lookUps(fake: FakeTwilio): number {
  return fake.requests.filter((r) => r.method === 'GET').length;
}

interface RunResult {
  unrecordedAtKills: number[];
  accepted: number;
  duplicates: number;
  lookUps: number;
  takenOver: number;
  statuses: Record<string, number>;
  seconds: number;
}

async function run(): Promise<RunResult> {
  const database = await recreateBenchDatabase(DATABASE_URL);
  const redis = redisConnection(REDIS_URL);
  const fake = await fakeTwilio();
  let worker: ServiceProcess | undefined;
  try {
    await seed(database);
    await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
    const queues = openMessageQueues(redis, QUEUE_PREFIX);
    const scanner = connect(DATABASE_URL, { max: 4, applicationName: 'bench-crash-scan' });
    const scan = await runScan(
      { db: scanner.db, queues, log: createLogger('scan', 'warn'), followUpDays: FOLLOW_UP_DAYS },
      { asOf: AS_OF, trigger: 'command' },
    );
    await scanner.close();
    await queues.close();
    if (scan.messagesQueued !== MESSAGES) throw new Error(`the scan queued ${scan.messagesQueued} messages, not ${MESSAGES}`);

    const env = {
      DATABASE_URL,
      REDIS_URL,
      QUEUE_PREFIX,
      QUIET_HOURS: 'off',
      LOG_LEVEL: 'warn',
      CLAIM_LEASE_SECONDS: String(LEASE_SECONDS),
      SMS_RATE_PER_SEC: String(RATE),
      ...providerEnv({ twilio: fake }),
    };
    const started = Date.now();
    worker = startService('sms-worker', env);
    const unrecordedAtKills: number[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      const at = Math.floor((MESSAGES * kill) / (KILLS + 1));
      while (fake.sms().length < at) {
        if (Date.now() - started > 600_000) throw new Error(`the fake had ${fake.sms().length} SMS after 10 minutes\n${worker.output().slice(-3000)}`);
        await sleep(2);
      }
      // Stopped first: nothing is recorded between the count and the kill.
      worker.child.kill('SIGSTOP');
      await sleep(100); // calls already on their way reach the fake
      // The messages this worker holds (its id ends in its pid) that Twilio has already taken.
      const accepted = new Set(fake.sms().map((s) => s.to));
      const { rows: held } = await database.pool.query<{ recipient: string }>(
        `select recipient from outgoing_messages where status = 'sending' and locked_by like $1`,
        [`sms-worker-%-${worker.child.pid}/%`],
      );
      unrecordedAtKills.push(held.filter((m) => accepted.has(m.recipient)).length);
      await worker.stop('SIGKILL');
      worker = startService('sms-worker', env);
    }
    // Every message ends: sent (or failed), none left queued or sending.
    for (;;) {
      const now = await statuses(database);
      if ((now.pending ?? 0) + (now.queued ?? 0) + (now.sending ?? 0) === 0) break;
      if (Date.now() - started > 600_000) throw new Error(`not done after 10 minutes: ${JSON.stringify(now)}\n${worker.output().slice(-3000)}`);
      await sleep(200);
    }
    const seconds = (Date.now() - started) / 1000;
    const sms = fake.sms();
    const distinct = new Set(sms.map((s) => `${s.to} ${s.body}`)).size;
    const takenOver = (await database.pool.query<{ n: number }>(`select count(*)::int as n from outgoing_messages where attempts > 1`)).rows[0]!.n;
    return { unrecordedAtKills, accepted: sms.length, duplicates: sms.length - distinct, lookUps: lookUps(fake), takenOver, statuses: await statuses(database), seconds };
  } finally {
    await worker?.stop('SIGKILL');
    await fake.close();
    await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
    await redis.quit();
    await database.close();
  }
}

say(`crash: ${MESSAGES} SMS at ${RATE}/s, the SMS worker SIGKILLed ${KILLS} times, CLAIM_LEASE_SECONDS=${LEASE_SECONDS}, ${RUNS} run(s)`);
for (let r = 1; r <= RUNS; r++) {
  const result = await run();
  say(
    `run ${r}: messages accepted but unrecorded at each kill ${result.unrecordedAtKills.join(', ')}; ` +
      `${result.accepted} SMS accepted for ${MESSAGES} messages: ${result.duplicates} duplicate(s); ` +
      `${result.takenOver} messages taken over after a kill, ${result.lookUps} look-up(s) at Twilio; ` +
      `statuses ${JSON.stringify(result.statuses)}; ${result.seconds.toFixed(1)} s`,
  );
}
