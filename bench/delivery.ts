// npm run bench:delivery: the delivery workers' speed targets of issue 5 (see bench/README.md).
// - N outgoing SMS and N pushes (20,000 each by default, as the issue asks), made by a scan
//   as in production, each to a recipient of its own
// - one SMS worker process (services/sms-worker, the real `twilio` package, rate limit
//   lifted) against a zero-latency fake Twilio: at least 1,000 messages/s; with
//   SMS_PROVIDER=aliyun, Alibaba Cloud's official SDK against the fake Alibaba Cloud (which
//   verifies each signature), beside the bare SDK's own rate, in every run (issue 15)
// - one push worker process (services/push-worker, inbox write and gateway call) against
//   a zero-latency fake gateway: at least 2,000 messages/s
// - beside each, the floor: a BullMQ worker with a no-op processor draining jobs of the
//   same queue (20,000), with the same concurrency; in the first run, the provider client
//   alone, and deliverMessage alone (its SQL, statement by statement)
// - the CPU time of the worker, PostgreSQL, Redis and the fake, and the SQL transactions,
//   WAL flushes and Redis commands per message: where the time goes
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@lr/config';
import { connect, type DatabaseHandle } from '@lr/db';
import { enqueue, messageJobs, openMessageQueues, redisConnection } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import { providerEnv, startService, type ServiceProcess, FOLLOW_UP_DAYS } from '@lr/testing';
import { dropQueueKeys, recreateBenchDatabase, seedDueLicenses, undoScan } from './bench-database';
import {
  ALIYUN_BENCH_TEMPLATE,
  cpuMark,
  DATABASE_URL,
  SMS_PROVIDER,
  QUEUE_PREFIX,
  REDIS_URL,
  type ChannelName,
  type DirectResult,
  type FloorResult,
  type SenderResult,
} from './delivery-common';
import { startProvider, type BenchProvider } from './delivery-fakes';
import { cpuSecondsOf, cpuSplitOf, median, postgresCpuSeconds, seconds } from './measure';
import { runNode } from './child';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Outgoing SMS, and as many pushes, per run, as the issue asks: one licence each, with a phone and an app account of its own. */
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** The scan's date; the licences expire 11 to 30 days later (the 30-day reminder). */
const AS_OF = process.env.BENCH_AS_OF ?? '2027-03-01';
/** The workers' DELIVERY_CONCURRENCY: the configuration's default unless BENCH_SMS_CONCURRENCY or BENCH_PUSH_CONCURRENCY says otherwise. */
const DEFAULT_CONCURRENCY = loadConfig('scheduler', {}).deliveryConcurrency;
const CONCURRENCY: Record<ChannelName, number> = {
  sms: Number(process.env.BENCH_SMS_CONCURRENCY || DEFAULT_CONCURRENCY),
  push: Number(process.env.BENCH_PUSH_CONCURRENCY || DEFAULT_CONCURRENCY),
};
/** SMS_RATE_PER_SEC: the highest the configuration allows, so the limiter never holds a job back. */
const SMS_RATE = 100_000;
const WORKER_LOG_LEVEL = process.env.BENCH_WORKER_LOG_LEVEL ?? 'warn';
/**
 * Jobs of the floor: at 6,000 its second is a fifth warm-up (JIT, first connections), and its
 * rate wandered from 5,700 to 8,800 jobs/s; at 20,000 it holds near 12,000 on a quiet machine.
 */
const FLOOR_JOBS = Number(process.env.BENCH_FLOOR_JOBS ?? Math.max(MESSAGES, 20_000));
/** Calls of the provider client alone, in the first run, per channel (0: none). */
const SENDER_CALLS = Number(process.env.BENCH_SENDER_CALLS ?? 5_000);
/** Messages sent by deliverMessage alone, one at a time, in the first run, per channel (0: none). */
const DIRECT_MESSAGES = Math.min(MESSAGES, Number(process.env.BENCH_DIRECT_MESSAGES ?? 1_000));
/** BENCH_PROFILE=on: the workers run under V8's sampling profiler (--cpu-prof), and their CPU time is shown by package. */
const PROFILE = process.env.BENCH_PROFILE === 'on';
const PROFILE_DIR = '/tmp/lr-bench-delivery-profiles';
/** A worker that sends nothing for this long has stalled: the bench stops with its output. */
const STALL_MS = 30_000;
const TARGET: Record<ChannelName, number> = { sms: 1_000, push: 2_000 };
const SERVICE: Record<ChannelName, 'sms-worker' | 'push-worker'> = { sms: 'sms-worker', push: 'push-worker' };

const say = (line: string) => console.log(line);
const n = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (cpuSeconds: number) => ((cpuSeconds * 1000) / MESSAGES).toFixed(3);
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

/** N licences of one category (sms and push), each with a phone and a platform user of its own, all due for their 30-day reminder. */
async function seed(database: DatabaseHandle) {
  const started = process.hrtime.bigint();
  await seedDueLicenses(database, { count: MESSAGES, asOf: AS_OF, prefix: 'DLV', appUsers: true });
  if (SMS_PROVIDER === 'aliyun') {
    // Under aliyun a category with the sms channel names its approved template and our templates for its variables.
    await database.pool.query(`update categories set aliyun_template_code = $1, aliyun_template_params = $2 where code = 'food-business'`, [
      ALIYUN_BENCH_TEMPLATE.code,
      JSON.stringify(ALIYUN_BENCH_TEMPLATE.params),
    ]);
  }
  say(`store: ${n(MESSAGES)} licences (food-business: sms and push), expiring ${AS_OF} + 11 to 30 days, in ${seconds(started).toFixed(1)} s`);
}

type Redis = ReturnType<typeof redisConnection>;

/** A fresh scan's messages: the scan writes them and puts their jobs on the queues (the catalogue's enqueue, real job ids). */
async function scan(database: DatabaseHandle, redis: Redis, previous: number | undefined) {
  if (previous !== undefined) await undoScan(database, previous);
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  await database.pool.query('vacuum analyze reminders, outgoing_messages, deliveries, delivery_events, inbox_messages');
  const queues = openMessageQueues(redis, QUEUE_PREFIX);
  // On connections of its own, closed after: a backend that ends reports its counters at
  // once, where an idle one may hold them for seconds, into the worker's figures.
  const scanner = connect(DATABASE_URL, { max: 4, applicationName: 'bench-scan' });
  const started = process.hrtime.bigint();
  // The benchmark's own store and date (after today by default): runScan scans the date it is given.
  const scanDeps = { db: scanner.db, queues, log: createLogger('scan', 'warn'), followUpDays: FOLLOW_UP_DAYS };
  const summary = await runScan(scanDeps, { asOf: AS_OF, trigger: 'command' });
  const took = seconds(started);
  await scanner.close();
  await queues.close();
  const { rows } = await database.pool.query<{ id: number; channel: ChannelName }>(
    `select id, channel from outgoing_messages where scan_id = $1 and status = 'queued' order by id`,
    [summary.id],
  );
  const ids = { sms: rows.filter((r) => r.channel === 'sms').map((r) => r.id), push: rows.filter((r) => r.channel === 'push').map((r) => r.id) };
  if (ids.sms.length !== MESSAGES || ids.push.length !== MESSAGES) {
    throw new Error(`the scan queued ${ids.sms.length} SMS and ${ids.push.length} pushes, not ${MESSAGES} each`);
  }
  // As autovacuum would have, which is off on this server: the workers' statements planned on counted tables.
  await database.pool.query('vacuum analyze reminders, outgoing_messages, deliveries, delivery_events');
  say(`  scan ${summary.id}: ${n(summary.remindersCreated)} reminders, ${n(summary.messagesQueued)} messages queued in ${took.toFixed(1)} s`);
  return { scanId: summary.id, ids };
}

/** Counters of PostgreSQL (this database's transactions, the server's WAL) and Redis (commands): per message, the round trips. */
async function counters(database: DatabaseHandle, redis: Redis) {
  const { rows } = await database.pool.query<{ xacts: number; inserted: number; updated: number; walSyncs: number; walBytes: number; walFpi: number }>(
    `select d.xact_commit + d.xact_rollback as xacts, d.tup_inserted as inserted, d.tup_updated as updated,
            w.wal_sync as "walSyncs", w.wal_bytes::float8 as "walBytes", w.wal_fpi as "walFpi"
       from pg_stat_database d, pg_stat_wal w where d.datname = current_database()`,
  );
  return { ...rows[0]!, ...(await redisCounters(redis)) };
}

/** Commands Redis has run (those inside Lua scripts too), and of them the script calls (BullMQ's moves are scripts). */
async function redisCounters(redis: Redis) {
  const info = await redis.info('all');
  const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { redisCommands: Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0), redisScripts: calls('evalsha') + calls('eval') };
}
type Counters = Awaited<ReturnType<typeof counters>>;

async function redisPid(redis: Redis): Promise<number> {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? 0);
  return cpuSecondsOf(pid) > 0 ? pid : 0; // 0: not on this machine, or out of reach
}

/** CPU seconds so far of the worker, PostgreSQL (all of it), Redis, this process (the fake) and the machine. */
function cpuMarks(workerPid: number, redis: number) {
  const { self, ...shared } = cpuMark(redis);
  const worker = cpuSplitOf(workerPid);
  return { ...shared, worker: worker.user + worker.system, workerSystem: worker.system, postgres: postgresCpuSeconds(), fake: self };
}

/** CPU seconds so far of each PostgreSQL backend of the worker's pool (application_name is the service's name). */
async function backendCpu(database: DatabaseHandle, service: string): Promise<Map<number, number>> {
  const { rows } = await database.pool.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = current_database() and application_name = $1',
    [service],
  );
  return new Map(rows.map(({ pid }) => [pid, cpuSecondsOf(pid)]));
}

interface WorkerRun {
  seconds: number;
  /** CPU seconds from the first send to the last; workerSystem: the worker's time in the kernel (system calls: sockets) */
  cpu: { worker: number; workerSystem: number; backends: number; postgres: number; redis: number; fake: number; machine: number };
  perMessage: {
    xacts: number;
    inserted: number;
    updated: number;
    walSyncs: number;
    walBytes: number;
    walFpi: number;
    redisCommands: number;
    redisScripts: number;
  };
  warnings: string[];
  content: { title?: string | null; body: string; url?: string | null; templateCode?: string; templateParam?: Record<string, string> };
  /** BENCH_PROFILE=on: the worker's main thread between the first send and the last, ms by package */
  profile: { byPackage: [string, number][]; byFunction: [string, number][] } | undefined;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
type Frame = CpuProfile['nodes'][number]['callFrame'];

/** What a frame with a script belongs to: a package, a part of Node, or this repository's code. */
function packageOf(url: string): string {
  const dependency = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1]!;
  if (url.startsWith('node:')) return url.includes('undici') ? 'node: undici' : `node: ${url.replace(/^node:(internal\/)?/, '').split('/')[0]}`;
  const own = /\/((?:packages|services|bench)\/[^/]+)\//.exec(url);
  return own ? own[1]! : url;
}

/**
 * The worker's main thread from `from` to `to` (µs of the monotonic clock that V8's
 * profiler and process.hrtime share), in ms: by package (a built-in such as JSON.parse or
 * Intl counted to the package that called it), and by function. Most first.
 */
function profileOf(pid: number, from: number, to: number): WorkerRun['profile'] {
  const files = readdirSync(PROFILE_DIR).filter((name) => name.includes(`.${pid}.`) && name.endsWith('.cpuprofile'));
  // One file per thread: the main thread's is number 0 (tsx's loader runs on another).
  const file = files.find((name) => name.includes(`.${pid}.0.`));
  const profile = file ? (JSON.parse(readFileSync(path.join(PROFILE_DIR, file), 'utf8')) as CpuProfile) : undefined;
  for (const name of files) rmSync(path.join(PROFILE_DIR, name));
  if (!profile) return undefined;
  const frames = new Map<number, Frame>(profile.nodes.map((node) => [node.id, node.callFrame]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  /** the package of the frame, or of its nearest caller with a script; V8's states ((idle), (garbage collector), (program)) as they are */
  const owner = (id: number): string => {
    const { functionName, url } = frames.get(id)!;
    if (!url && functionName.startsWith('(')) return functionName === '(idle)' ? '(idle: waiting for I/O)' : functionName;
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const frame = frames.get(at)!;
      if (frame.url) return packageOf(frame.url);
    }
    return '(native)';
  };
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < from || at > to) return;
    const what = owner(id);
    byPackage.set(what, (byPackage.get(what) ?? 0) + delta / 1000);
    const fn = `${frames.get(id)!.functionName || '(anonymous)'} [${what}]`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta / 1000);
  });
  const sorted = (totals: Map<string, number>) => [...totals].sort((a, b) => b[1] - a[1]);
  return { byPackage: sorted(byPackage), byFunction: sorted(byFunction) };
}

/** The worker's settings: the bench's database and queues, the fake as its provider, no quiet hours, no rate limit. */
function workerEnv(channel: ChannelName, fakeUrl: string): NodeJS.ProcessEnv {
  return {
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX,
    QUIET_HOURS: 'off',
    LOG_LEVEL: WORKER_LOG_LEVEL,
    DELIVERY_CONCURRENCY: String(CONCURRENCY[channel]),
    SMS_RATE_PER_SEC: String(SMS_RATE),
    ...providerEnv(channel === 'push' ? { gateway: { url: fakeUrl } } : SMS_PROVIDER === 'aliyun' ? { aliyun: { url: fakeUrl } } : { twilio: { url: fakeUrl } }),
  };
}

/**
 * One worker process draining the scan's N jobs of its channel. The time runs from the
 * fake's first request (the worker's start-up, tsx compiling it, is left out) to the moment
 * PostgreSQL holds all N messages as sent.
 */
async function measureWorker(database: DatabaseHandle, redis: Redis, redisProcess: number, channel: ChannelName, scanId: number): Promise<WorkerRun> {
  const fake = await startProvider(channel);
  const sent = async () =>
    (
      await database.pool.query<{ sent: number }>(
        `select count(*)::int as sent from outgoing_messages where scan_id = $1 and channel = $2 and status = 'sent'`,
        [scanId, channel],
      )
    ).rows[0]!.sent;
  let worker: ServiceProcess | undefined;
  try {
    await database.pool.query('checkpoint');
    // The scan's backends report their counters within a second of going idle: before
    // that, the worker's figures would take in the scan's rows.
    await sleep(1500);
    const before = await counters(database, redis);
    const service = (worker = startService(SERVICE[channel], workerEnv(channel, fake.url), PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []));
    const { child } = service;
    const output = () => service.output();
    const exitCode = () => child.exitCode ?? child.signalCode ?? undefined;
    const fail = (why: string) => new Error(`${SERVICE[channel]}: ${why}\n--- its output ---\n${output().slice(-5000)}`);

    // Start: the fake's first request, polled every 5 ms.
    const spawned = Date.now();
    while (fake.count() === 0) {
      if (exitCode() !== undefined) throw fail(`exited with ${exitCode()} before sending`);
      if (Date.now() - spawned > 120_000) throw fail('sent nothing in 120 s');
      await sleep(5);
    }
    const started = process.hrtime.bigint();
    const start = cpuMarks(child.pid!, redisProcess);
    const backendsAtStart = await backendCpu(database, SERVICE[channel]);

    // Every request at the fake, then every message sent in PostgreSQL.
    let seen = 0;
    let progressAt = Date.now();
    while (fake.count() < MESSAGES) {
      if (exitCode() !== undefined) throw fail(`exited with ${exitCode()} after ${fake.count()} sends`);
      if (fake.count() !== seen) [seen, progressAt] = [fake.count(), Date.now()];
      if (Date.now() - progressAt > STALL_MS) throw fail(`stalled at ${seen} of ${MESSAGES} sends`);
      await sleep(5);
    }
    while ((await sent()) < MESSAGES) {
      if (Date.now() - progressAt > STALL_MS) throw fail(`all ${MESSAGES} sent to the fake, but only ${await sent()} marked sent`);
      await sleep(10);
    }
    const ended = process.hrtime.bigint();
    const end = cpuMarks(child.pid!, redisProcess);
    const backendsAtEnd = await backendCpu(database, SERVICE[channel]);

    const code = await service.stop();
    if (code !== 0) throw fail(`exited with ${code} on SIGTERM`);
    // The backends report their counters when they end, or once a second when idle.
    await sleep(1500);
    const after = await counters(database, redis);
    await verify(database, channel, scanId, fake);

    let backends = 0;
    for (const [pid, cpu] of backendsAtEnd) backends += cpu - (backendsAtStart.get(pid) ?? 0);
    const per = (key: keyof Counters) => (after[key] - before[key]) / MESSAGES;
    const { rows } = await database.pool.query<WorkerRun['content']>(
      `select title, body, url from outgoing_messages where scan_id = $1 and channel = $2 order by id limit 1`,
      [scanId, channel],
    );
    return {
      seconds: Number(ended - started) / 1e9,
      cpu: {
        worker: end.worker - start.worker,
        workerSystem: end.workerSystem - start.workerSystem,
        backends,
        postgres: end.postgres - start.postgres,
        redis: end.redis - start.redis,
        fake: end.fake - start.fake,
        machine: end.machine - start.machine,
      },
      perMessage: {
        xacts: per('xacts'),
        inserted: per('inserted'),
        updated: per('updated'),
        walSyncs: per('walSyncs'),
        walBytes: per('walBytes'),
        walFpi: per('walFpi'),
        redisCommands: per('redisCommands'),
        redisScripts: per('redisScripts'),
      },
      warnings: output().split('\n').filter((line) => line.trim() !== ''),
      content: { ...rows[0]!, ...fake.sample?.() },
      profile: PROFILE ? profileOf(child.pid!, Number(started / 1000n), Number(ended / 1000n)) : undefined,
    };
  } finally {
    // A measurement that failed leaves no worker behind.
    await worker?.stop('SIGKILL');
    await fake.close();
  }
}

/** Exactly N requests at the fake, one per recipient, each message sent once with the provider's id; for push, N inbox rows. */
async function verify(database: DatabaseHandle, channel: ChannelName, scanId: number, fake: BenchProvider) {
  const problems: string[] = [];
  const { rows: recipients } = await database.pool.query<{ recipient: string }>(
    `select recipient from outgoing_messages where scan_id = $1 and channel = $2`,
    [scanId, channel],
  );
  const expected = new Set(recipients.map((r) => r.recipient));
  const accepted = fake.accepted();
  const received = accepted.map((a) => a.recipient);
  if (received.length !== MESSAGES) problems.push(`the fake received ${received.length} requests, not ${MESSAGES}`);
  const distinct = new Set(received);
  if (distinct.size !== received.length) problems.push(`${received.length - distinct.size} recipients received more than one`);
  if (received.some((r) => !expected.has(r)) || distinct.size !== expected.size) problems.push(`the fake's recipients are not the scan's`);
  const providerIds = accepted.map((a) => a.providerId);
  const { rows } = await database.pool.query<{ sent: number; all: number; matched: number; deliveries: number; inbox: number }>(
    `select count(*) filter (where m.status = 'sent')::int as sent, count(*)::int as all,
            count(*) filter (where m.provider_message_id = any($3::text[]))::int as matched,
            (select count(*)::int from deliveries d join outgoing_messages x on x.id = d.message_id
              where x.scan_id = $1 and x.channel = $2 and d.status = 'sent') as deliveries,
            (select count(*)::int from inbox_messages i join outgoing_messages x on x.id = i.message_id
              where x.scan_id = $1 and x.channel = $2) as inbox
       from outgoing_messages m where m.scan_id = $1 and m.channel = $2`,
    [scanId, channel, providerIds],
  );
  const row = rows[0]!;
  if (row.sent !== MESSAGES || row.all !== MESSAGES) problems.push(`${row.sent} of ${row.all} messages sent in PostgreSQL`);
  if (row.matched !== MESSAGES) problems.push(`${row.matched} messages carry the provider id the fake gave`);
  if (row.deliveries !== MESSAGES) problems.push(`${row.deliveries} deliveries sent`);
  if (channel === 'push') {
    if (row.inbox !== MESSAGES) problems.push(`${row.inbox} inbox messages written, not ${MESSAGES}`);
    if (accepted.some((a) => !a.signatureValid)) problems.push('a push with a bad signature');
  }
  if (problems.length) throw new Error(`${channel}: ${problems.join('; ')}`);
}

/**
 * The floor: jobs of the catalogue on the same queue (emptied first), the run's N messages
 * and more up to FLOOR_JOBS, drained by a BullMQ worker with a no-op processor.
 */
type FloorMeasured = FloorResult & { redisCommands: number; redisScripts: number };

async function measureFloor(redis: Redis, redisProcess: number, channel: ChannelName): Promise<FloorMeasured> {
  const pattern = `${QUEUE_PREFIX}:${channel}:*`;
  await dropQueueKeys(redis, pattern);
  const queues = openMessageQueues(redis, QUEUE_PREFIX);
  const payloads = Array.from({ length: FLOOR_JOBS }, (_, i) => ({ messageId: i + 1 }));
  await enqueue(queues[channel], messageJobs[channel], payloads);
  await queues.close();
  const args = [channel, String(FLOOR_JOBS), String(CONCURRENCY[channel]), ...(channel === 'sms' ? [String(SMS_RATE)] : [])];
  const before = await redisCounters(redis);
  const floor = await runNode<FloorResult>('bench/delivery-floor.ts', args, { BENCH_REDIS_PID: String(redisProcess) });
  const after = await redisCounters(redis);
  await dropQueueKeys(redis, pattern);
  return { ...floor, redisCommands: after.redisCommands - before.redisCommands, redisScripts: after.redisScripts - before.redisScripts };
}

type SenderMeasured = SenderResult & { fakeCpuSeconds: number };

/** The provider client alone, against a fresh fake, at the worker's concurrency. */
async function measureSender(channel: ChannelName, content: WorkerRun['content']): Promise<SenderMeasured> {
  const fake = await startProvider(channel);
  try {
    const cpu = process.cpuUsage();
    const result = await runNode<SenderResult>(
      'bench/delivery-sender.ts',
      [channel, String(SENDER_CALLS), String(CONCURRENCY[channel]), fake.url],
      { BENCH_SENDER_CONTENT: JSON.stringify(content) },
    );
    const fakeCpu = process.cpuUsage(cpu);
    const expected = SENDER_CALLS + CONCURRENCY[channel];
    if (fake.count() !== expected) throw new Error(`${channel} sender: the fake received ${fake.count()} requests, not ${expected}`);
    return { ...result, fakeCpuSeconds: (fakeCpu.user + fakeCpu.system) / 1e6 };
  } finally {
    await fake.close();
  }
}

/**
 * deliverMessage alone, one message at a time, on messages the worker has sent, put back to
 * 'queued' first (their inbox rows deleted): the SQL of each message, statement by statement.
 */
async function measureDirect(database: DatabaseHandle, channel: ChannelName, ids: number[]): Promise<DirectResult> {
  await database.pool.query(
    `update outgoing_messages set status = 'queued', attempts = 0, locked_by = null, locked_at = null, title = null, body = null,
            url = null, provider_message_id = null, sent_at = null, error_code = null, error_message = null
      where id = any($1::int[])`,
    [ids],
  );
  await database.pool.query(`update deliveries set status = 'queued' where message_id = any($1::int[])`, [ids]);
  await database.pool.query(`delete from inbox_messages where message_id = any($1::int[])`, [ids]);
  return runNode<DirectResult>('bench/delivery-direct.ts', [channel], { BENCH_DIRECT_IDS: ids.join(',') });
}

interface Measured {
  direct: DirectResult | undefined;
  worker: WorkerRun;
  floor: FloorMeasured;
  sender: SenderMeasured | undefined;
  load: number;
}

/** The worker's time for its N messages over the floor's for as many jobs (the floor's rate over the worker's). */
const ratioOf = (m: Measured) => m.worker.seconds / MESSAGES / (m.floor.seconds / m.floor.jobs);

function report(channel: ChannelName, run: number, m: Measured) {
  const { worker: w, floor: f } = m;
  const other = w.cpu.machine - w.cpu.worker - w.cpu.postgres - w.cpu.redis - w.cpu.fake;
  say(
    `${channel} run ${run}: ${n(MESSAGES)} messages in ${w.seconds.toFixed(2)} s = ${n(MESSAGES / w.seconds)}/s (target ${n(TARGET[channel])}/s); ` +
      `floor ${n(f.jobs)} jobs in ${f.seconds.toFixed(2)} s = ${n(f.jobs / f.seconds)} jobs/s; real/floor ${ratioOf(m).toFixed(1)}x ` +
      `(load average before: ${m.load.toFixed(2)})`,
  );
  say(
    `  CPU ms per message: worker ${ms(w.cpu.worker)} (in the kernel ${ms(w.cpu.workerSystem)}), PostgreSQL ${ms(w.cpu.postgres)} (the worker's backends ${ms(w.cpu.backends)}), ` +
      `Redis ${ms(w.cpu.redis)}, fake ${ms(w.cpu.fake)}, other processes ${ms(other)}; machine ${ms(w.cpu.machine)} ` +
      `(${((w.cpu.machine / w.seconds) * 50).toFixed(0)}% of 2 cores)`,
  );
  const p = w.perMessage;
  say(
    `  per message: ${p.xacts.toFixed(2)} SQL transactions, ${p.inserted.toFixed(2)} rows inserted, ${p.updated.toFixed(2)} updated, ` +
      `${p.walSyncs.toFixed(2)} WAL flushes, ${n(p.walBytes)} WAL bytes (${p.walFpi.toFixed(2)} full pages), ${p.redisScripts.toFixed(2)} Redis script calls (${p.redisCommands.toFixed(1)} commands with those inside them)`,
  );
  say(
    `  floor CPU ms per job: BullMQ worker ${((f.workerCpuSeconds * 1000) / f.jobs).toFixed(3)}, Redis ${((f.redisCpuSeconds * 1000) / f.jobs).toFixed(3)}, ` +
      `machine ${((f.machineCpuSeconds * 1000) / f.jobs).toFixed(3)}; ${(f.redisScripts / f.jobs).toFixed(2)} Redis script calls (${(f.redisCommands / f.jobs).toFixed(1)} commands) per job`,
  );
  if (m.sender) {
    const s = m.sender;
    say(
      `  ${channel === 'push' ? 'gateway client (undici)' : SMS_PROVIDER === 'aliyun' ? 'bare Alibaba Cloud SDK (SendSms)' : 'twilio client'} alone: ${n(s.calls / s.seconds)} calls/s` +
        `${channel === 'sms' && SMS_PROVIDER === 'aliyun' ? ` (the worker ${((100 * MESSAGES) / w.seconds / (s.calls / s.seconds)).toFixed(0)}% of it)` : ''}, ` +
        `${((s.cpuSeconds * 1000) / s.calls).toFixed(3)} ms CPU per call (in the kernel ${((s.systemSeconds * 1000) / s.calls).toFixed(3)} ms; ` +
        `the fake ${((s.fakeCpuSeconds * 1000) / s.calls).toFixed(3)} ms)`,
    );
  }
  if (w.profile) {
    const all = w.profile.byPackage.reduce((t, [, v]) => t + v, 0);
    const show = (list: [string, number][], count: number) =>
      list
        .slice(0, count)
        .map(([what, v]) => `${what} ${((100 * v) / all).toFixed(0)}% (${(v / MESSAGES).toFixed(3)} ms/msg)`)
        .join(', ');
    say(`  worker's main thread, profiled (${(all / 1000).toFixed(1)} s), by package: ${show(w.profile.byPackage, 16)}`);
    say(`    by function: ${show(w.profile.byFunction, 12)}`);
  }
  if (m.direct) {
    const d = m.direct;
    const per = (value: number) => (value / d.messages).toFixed(3);
    const wall = d.statements.reduce((t, st) => t + st.wallMs, 0);
    const backend = d.statements.reduce((t, st) => t + st.backendMs, 0);
    say(
      `  deliverMessage alone, one at a time (${n(d.messages)} messages, provider answering at once): ${((d.seconds * 1000) / d.messages).toFixed(2)} ms per message ` +
        `(${n(d.messages / d.seconds)}/s); its JavaScript ${per(d.cpuSeconds * 1000)} ms CPU; SQL ${per(wall)} ms at the driver, of which the backend's CPU ${per(backend)} ms:`,
    );
    for (const st of d.statements) {
      say(`    ${st.what}: ${(st.count / d.messages).toFixed(2)} per message, ${(st.wallMs / st.count).toFixed(3)} ms each, backend CPU ${(st.backendMs / st.count).toFixed(3)} ms`);
    }
  }
  if (w.warnings.length) say(`  the worker wrote to its log (LOG_LEVEL=${WORKER_LOG_LEVEL}); its last line: ${w.warnings.at(-1)!.slice(0, 300)}`);
}

function summary(channel: ChannelName, runs: Measured[]) {
  const list = (values: number[], digits = 0) => values.map((v) => (digits ? v.toFixed(digits) : n(v))).join(', ');
  const rates = runs.map((m) => MESSAGES / m.worker.seconds);
  const floors = runs.map((m) => m.floor.jobs / m.floor.seconds);
  const ratios = runs.map(ratioOf);
  const rate = median(rates);
  const mid = (pick: (m: Measured) => number) => median(runs.map(pick));
  const cpu = (pick: (w: WorkerRun['cpu']) => number) => ms(mid((m) => pick(m.worker.cpu)));
  say(
    `${channel === 'sms' ? `SMS worker (${SMS_PROVIDER})` : 'push worker (inbox + gateway)'}, concurrency ${CONCURRENCY[channel]}: ` +
      `median ${n(rate)} messages/s (${list(rates)}), target >= ${n(TARGET[channel])}/s: ${rate >= TARGET[channel] ? 'met' : 'NOT met'}`,
  );
  say(`  floor, BullMQ no-op worker: median ${n(median(floors))} jobs/s (${list(floors)}); real/floor time per message median ${median(ratios).toFixed(1)}x (${list(ratios, 1)})`);
  say(
    `  CPU ms per message (medians): worker ${cpu((c) => c.worker)} (in the kernel ${cpu((c) => c.workerSystem)}), PostgreSQL ${cpu((c) => c.postgres)} ` +
      `(worker's backends ${cpu((c) => c.backends)}), Redis ${cpu((c) => c.redis)}, fake ${cpu((c) => c.fake)}, machine ${cpu((c) => c.machine)}; ` +
      `2 cores at that cost: ${n((2 * MESSAGES) / mid((m) => m.worker.cpu.machine))} messages/s, ` +
      `${n((2 * MESSAGES) / mid((m) => m.worker.cpu.worker + m.worker.cpu.postgres + m.worker.cpu.redis))} with only the worker, PostgreSQL and Redis on them`,
  );
  say(
    `  per message (medians): ${mid((m) => m.worker.perMessage.xacts).toFixed(2)} SQL transactions, ` +
      `${mid((m) => m.worker.perMessage.walSyncs).toFixed(2)} WAL flushes, ${mid((m) => m.worker.perMessage.redisScripts).toFixed(2)} Redis script calls ` +
      `(${mid((m) => m.worker.perMessage.redisCommands).toFixed(1)} commands in all); ` +
      `a job takes ${((CONCURRENCY[channel] / rate) * 1000).toFixed(1)} ms (concurrency / rate)`,
  );
  const direct = runs[0]?.direct;
  if (direct) {
    const total = (pick: (st: DirectResult['statements'][number]) => number) => direct.statements.reduce((t, st) => t + pick(st), 0) / direct.messages;
    say(
      `  deliverMessage alone, one at a time (run 1): ${((direct.seconds * 1000) / direct.messages).toFixed(2)} ms per message, ` +
        `${(direct.statements.reduce((t, st) => t + st.count, 0) / direct.messages).toFixed(1)} statements: SQL ${total((st) => st.wallMs).toFixed(2)} ms at the driver ` +
        `(backend CPU ${total((st) => st.backendMs).toFixed(2)} ms), JavaScript CPU ${((direct.cpuSeconds * 1000) / direct.messages).toFixed(2)} ms`,
    );
  }
  const senders = runs.map((m) => m.sender).filter((s) => s !== undefined);
  if (senders.length) {
    say(
      `  provider client alone${channel === 'sms' && SMS_PROVIDER === 'aliyun' ? ' (the bare SDK, every run)' : ''}: median ${n(median(senders.map((s) => s.calls / s.seconds)))} calls/s` +
        `${senders.length === runs.length ? ` (${list(senders.map((s) => s.calls / s.seconds))}); worker/SDK rate median ${median(runs.map((m) => MESSAGES / m.worker.seconds / (m.sender!.calls / m.sender!.seconds))).toFixed(2)} (${list(runs.map((m) => MESSAGES / m.worker.seconds / (m.sender!.calls / m.sender!.seconds)), 2)})` : ''}, ` +
        `${median(senders.map((s) => (s.cpuSeconds * 1000) / s.calls)).toFixed(3)} ms CPU per call`,
    );
  }
}

// `npm run bench:delivery -- sms` or `-- push` measures one channel; no argument both.
const only = process.argv.slice(2).find((a): a is ChannelName => a === 'sms' || a === 'push');
const channels: ChannelName[] = only ? [only] : ['sms', 'push'];
const total = process.hrtime.bigint();
const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trimEnd();
const changed = git('status', '--short', '--', 'packages', 'services', 'migrations').split('\n').filter(Boolean);
say(
  `delivery bench: ${n(MESSAGES)} SMS and ${n(MESSAGES)} pushes per run, ${RUNS} runs, ${channels.join(' and ')}; ` +
    `floors of ${n(FLOOR_JOBS)} jobs; fakes: @lr/testing's; SMS through ${SMS_PROVIDER}; concurrency sms ${CONCURRENCY.sms}, push ${CONCURRENCY.push}; worker LOG_LEVEL=${WORKER_LOG_LEVEL}; ` +
    `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);
say(`code: ${git('rev-parse', '--short', 'HEAD')}${changed.length ? `, uncommitted: ${changed.map((l) => l.slice(3)).join(' ')}` : ''}`);
say(
  `reproduce: ${[
    ...(SMS_PROVIDER === 'aliyun' ? ['SMS_PROVIDER=aliyun'] : []),
    `BENCH_MESSAGES=${MESSAGES}`,
    `BENCH_RUNS=${RUNS}`,
    ...(process.env.BENCH_SMS_CONCURRENCY ? [`BENCH_SMS_CONCURRENCY=${CONCURRENCY.sms}`] : []),
    ...(process.env.BENCH_PUSH_CONCURRENCY ? [`BENCH_PUSH_CONCURRENCY=${CONCURRENCY.push}`] : []),
    ...(process.env.BENCH_AS_OF ? [`BENCH_AS_OF=${AS_OF}`] : []),
    ...(WORKER_LOG_LEVEL !== 'warn' ? [`BENCH_WORKER_LOG_LEVEL=${WORKER_LOG_LEVEL}`] : []),
    ...(process.env.BENCH_FLOOR_JOBS ? [`BENCH_FLOOR_JOBS=${FLOOR_JOBS}`] : []),
    ...(process.env.BENCH_SENDER_CALLS ? [`BENCH_SENDER_CALLS=${SENDER_CALLS}`] : []),
    ...(process.env.BENCH_DIRECT_MESSAGES ? [`BENCH_DIRECT_MESSAGES=${DIRECT_MESSAGES}`] : []),
    ...(PROFILE ? ['BENCH_PROFILE=on'] : []),
  ].join(' ')} npm run bench:delivery${only ? ` -- ${only}` : ''}  (or node --import tsx bench/delivery.ts${only ? ` ${only}` : ''} with the same variables)`,
);

if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true });
// Created, migrated and seeded on connections that are then closed: a backend that ends
// reports its counters at once, where an idle one may hold them into the first measurement.
const creating = await recreateBenchDatabase(DATABASE_URL);
await seed(creating);
await creating.close();
const database = connect(DATABASE_URL, { max: 4 });
const redis = redisConnection(REDIS_URL);
const redisProcess = await redisPid(redis);
const results: Record<ChannelName, Measured[]> = { sms: [], push: [] };
try {
  let scanId: number | undefined;
  for (let run = 1; run <= RUNS; run++) {
    say(`\nrun ${run}`);
    const made = await scan(database, redis, scanId);
    scanId = made.scanId;
    for (const channel of channels) {
      const load = loadavg()[0]!;
      const worker = await measureWorker(database, redis, redisProcess, channel, scanId);
      const floor = await measureFloor(redis, redisProcess, channel);
      // The bare SDK is aliyun's floor: measured in every run, beside the worker.
      const senderRun = run === 1 || (channel === 'sms' && SMS_PROVIDER === 'aliyun');
      const sender = SENDER_CALLS > 0 && senderRun ? await measureSender(channel, worker.content) : undefined;
      const direct = DIRECT_MESSAGES > 0 && run === 1 ? await measureDirect(database, channel, made.ids[channel].slice(0, DIRECT_MESSAGES)) : undefined;
      const measured = { worker, floor, sender, direct, load };
      results[channel].push(measured);
      report(channel, run, measured);
    }
  }
  say('\nsummary');
  for (const channel of channels) summary(channel, results[channel]);
  say(`verified in every run: the fake received exactly ${n(MESSAGES)} requests, one per recipient; every message sent in PostgreSQL with the fake's id${channels.includes('push') ? '; one inbox row per push' : ''}`);
} finally {
  await dropQueueKeys(redis, `${QUEUE_PREFIX}:*`);
  await redis.quit();
  await database.close();
  say(`total ${(seconds(total) / 60).toFixed(1)} min (${new URL(DATABASE_URL).pathname.slice(1)} kept for psql)`);
}
