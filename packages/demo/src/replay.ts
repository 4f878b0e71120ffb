// Replays the demo's half year of history (demoHistory) through the service's own code, one
// simulated day at a time: that day's scan (runScan), its messages delivered at once by the
// workers' delivery code with the log providers, the carriers' receipts recorded as the
// Twilio webhook records them, then the day's renewals (upsertLicenses). Nothing of it is
// left for a worker: the scans enqueue on a queue prefix of their own, deleted afterwards,
// and every message is finished before the next day begins.
import { randomBytes } from 'node:crypto';
import { recordReceipt, upsertLicenses, type Database, type IdSealer } from '@lr/db';
import { messageDelivery, ProviderError, type DeliveryDeps } from '@lr/delivery';
import { addDays, localMidnight, normalizeMobile, validateLicense, type License, type LicenseInput } from '@lr/domain';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import type { Logger } from '@lr/log';
import { logSender as pushLogSender, pushChannel } from '@lr/push-worker/push.channel';
import { runScan } from '@lr/scan';
import { logSender as smsLogSender, type SmsSender } from '@lr/sms';
import { smsChannel } from '@lr/sms-worker/sms.channel';
import { sql } from 'kysely';
import type { DeadPhoneAnswer, DemoHistory } from './history';

export interface HistoryDeps {
  db: Database;
  sealer: IdSealer;
  redisUrl: string;
  /** the services' QUEUE_PREFIX: the history's queues are on a prefix that starts with it */
  queuePrefix: string;
  timezone: string;
  smsMaxPerRecipientPerDay: number;
  /** FOLLOW_UP_DAYS: the history's scans open follow-ups as the service's do */
  followUpDays: number;
  /** where the messages' renewal links point (Config.linkBaseUrl): the links of the demo's past messages open */
  linkBaseUrl: string;
  log: Logger;
  /** stops the replay before its next day (Ctrl-C during the load) */
  signal?: AbortSignal;
}

/** When each part of a simulated day happens, local time: the scan, the sends (after quiet hours), the renewals. */
const SCAN_AT = 7.5;
const SENDS_AT = 8;
const RENEWALS_AT = 15;

/** A valid licence, or an error naming the demo licence that is not. */
export function validDemoLicense(input: LicenseInput): License {
  const result = validateLicense(input);
  if (!result.ok) throw new Error(`demo licence ${input.licenseNo} is invalid: ${JSON.stringify(result.errors)}`);
  return result.license;
}

/** The instant `hours` after local midnight of `day` in `timezone`. */
function localTime(timezone: string, day: string, hours: number): Date {
  return new Date(localMidnight(timezone, new Date(`${day}T12:00:00Z`)).getTime() + hours * 3_600_000);
}

/**
 * Twilio as it answers for a phone no longer in use: some numbers it refuses at once (21614,
 * as twilio.ts classifies it), the others it takes and later reports undelivered. Every
 * other SMS goes to the log provider.
 */
function demoSmsSender(log: Logger, dead: Map<string, DeadPhoneAnswer>): SmsSender {
  const logged = smsLogSender(log);
  return {
    async send(to, body, sms) {
      if (dead.get(to) === 'rejected') throw new ProviderError(true, '21614', '"To" number is not a mobile number');
      return logged.send(to, body, sms);
    },
  };
}

/** The database's clock: what now() writes. */
async function databaseNow(db: Database): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(db);
  return rows[0]!.now;
}

/** Every timestamp column of the service's tables, by table. */
async function timestampColumns(db: Database): Promise<Map<string, string[]>> {
  const { rows } = await sql<{ tableName: string; columnName: string }>`
    select table_name, column_name from information_schema.columns
     where table_schema = current_schema() and data_type = 'timestamp with time zone'
     order by table_name, ordinal_position`.execute(db);
  const columns = new Map<string, string[]>();
  for (const { tableName, columnName } of rows) columns.set(tableName, [...(columns.get(tableName) ?? []), columnName]);
  return columns;
}

/**
 * Moves what the code paths wrote with the real clock (now()) to the simulated day: a time
 * written after `marks[i]` (and before the next mark) becomes `to[i]` plus as long after as
 * it was. One statement per day, over every table, so that tables added later follow too.
 */
async function backdate(db: Database, columns: Map<string, string[]>, marks: Date[], to: Date[]): Promise<void> {
  const shifted = (column: string) => {
    const ref = sql.ref(column);
    const cases = marks.map((mark, i) => ({ mark, to: to[i]! })).reverse();
    return sql`case ${sql.join(
      cases.map(({ mark, to }) => sql`when ${ref} >= ${mark}::timestamptz then ${to}::timestamptz + (${ref} - ${mark}::timestamptz)`),
      sql` `,
    )} else ${ref} end`;
  };
  const first = marks[0]!;
  const updates = [...columns].map(
    ([table, cols], i) => sql`${sql.raw(`u${i}`)} as (
      update ${sql.table(table)} set ${sql.join(cols.map((c) => sql`${sql.ref(c)} = ${shifted(c)}`))}
       where ${sql.join(cols.map((c) => sql`${sql.ref(c)} >= ${first}::timestamptz`), sql` or `)})`,
  );
  await sql`with ${sql.join(updates)} select 1`.execute(db);
}

export interface HistorySummary {
  days: number;
  scans: number;
  renewals: number;
}

/**
 * Replays `history` up to the day before `today` on a store that holds its categories and
 * the licences of its first day, stored at `storedAt` (the database's clock). Each day: the scan, its messages sent and their receipts,
 * then the renewals; then every time written that day moves to the simulated day.
 */
export async function replayDemoHistory(deps: HistoryDeps, history: DemoHistory, today: string, storedAt: Date): Promise<HistorySummary> {
  const { db, log } = deps;
  const dead = new Map(history.deadPhones.map((d) => [normalizeMobile(d.phone)!, d.answer]));
  const columns = await timestampColumns(db);
  const prefix = `${deps.queuePrefix}-demo-history-${randomBytes(4).toString('hex')}`;
  const connection = redisConnection(deps.redisUrl);
  const queues = openMessageQueues(connection, prefix);
  let simulated = new Date();
  const delivery: DeliveryDeps = {
    db,
    log,
    workerId: 'demo-history',
    claimLeaseSeconds: 120,
    maxClaims: 1,
    linkBaseUrl: deps.linkBaseUrl,
    // The daily cap counts the SMS of the simulated day.
    now: () => simulated,
  };
  const deliver = {
    sms: messageDelivery(delivery, smsChannel(demoSmsSender(log, dead), { db, maxPerRecipientPerDay: deps.smsMaxPerRecipientPerDay, timezone: deps.timezone })),
    push: messageDelivery(delivery, pushChannel(db, pushLogSender(log))),
  };
  const renewalsOn = new Map<string, LicenseInput[]>();
  for (const { on, license } of history.renewals) renewalsOn.set(on, [...(renewalsOn.get(on) ?? []), license]);
  let days = 0;
  try {
    for (let day = history.firstDay; day < today; day = addDays(day, 1), days++) {
      deps.signal?.throwIfAborted();
      const times = [SCAN_AT, SENDS_AT, RENEWALS_AT].map((hours) => localTime(deps.timezone, day, hours));
      // The first day's scan also takes the categories and licences stored before it.
      const marks = [days === 0 ? storedAt : await databaseNow(db)];
      // A replay: each of its days is before the `today` it was given, and its messages go to the log senders.
      const scan = await runScan({ db, queues, log, followUpDays: deps.followUpDays }, { asOf: day, trigger: 'cron' });

      marks.push(await databaseNow(db));
      simulated = times[1]!;
      const messages = await db.selectFrom('outgoingMessages').select(['id', 'channel']).where('scanId', '=', scan.id).execute();
      // lastAttempt: a message that fails now has failed for good; none waits for a retry.
      await Promise.all(messages.map((m) => deliver[m.channel](m.id, true)));
      await recordReceipts(db, scan.id, dead);

      marks.push(await databaseNow(db));
      const renewed = renewalsOn.get(day) ?? [];
      if (renewed.length > 0) {
        await db.transaction().execute((trx) => upsertLicenses(trx, deps.sealer, renewed.map(validDemoLicense)));
      }
      await backdate(db, columns, marks, times);
    }
    await noWorkLeft(db);
  } finally {
    await queues.close();
    await dropKeys(connection, prefix);
    await connection.quit();
  }
  return { days, scans: days, renewals: history.renewals.filter((r) => r.on < today).length };
}

/** The carriers' receipts for a scan's SMS, recorded as the Twilio webhook records them. */
async function recordReceipts(db: Database, scanId: number, dead: Map<string, DeadPhoneAnswer>): Promise<void> {
  const sent = await db
    .selectFrom('outgoingMessages')
    .select(['recipient', 'providerMessageId'])
    .where('scanId', '=', scanId)
    .where('channel', '=', 'sms')
    .where('status', '=', 'sent')
    .execute();
  await Promise.all(
    sent.map(({ recipient, providerMessageId }) =>
      dead.get(recipient) === 'undelivered'
        ? recordReceipt(db, providerMessageId!, 'undelivered', { code: '30005', message: 'Twilio error 30005' })
        : recordReceipt(db, providerMessageId!, 'delivered'),
    ),
  );
}

/** Every message of the past is finished: none may be sent by a worker after the start. */
async function noWorkLeft(db: Database): Promise<void> {
  const left = await db.selectFrom('outgoingMessages').select('id').where('status', 'in', ['pending', 'queued', 'sending']).limit(1).execute();
  if (left.length > 0) throw new Error(`demo history: message ${left[0]!.id} was left unfinished`);
}

async function dropKeys(connection: ReturnType<typeof redisConnection>, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await connection.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
