import {
  abandonInterruptedScans,
  categoriesForScan,
  closeEndedFollowUps,
  createDueReminders,
  expireReminders,
  failScan,
  finishScan,
  markQueued,
  openFollowUpsForUndeliverable,
  openNotRenewedFollowUps,
  prepareScanTransaction,
  scanRemindersByLead,
  startScan,
  withScanLock,
  type Database,
  type DatabaseTransaction,
  type ScanTrigger,
} from '@lr/db';
import { dueWindows } from '@lr/domain';
import { enqueue, isRedisUnavailable, messageJobs, RedisUnavailableError, type MessageQueues } from '@lr/jobs';
import type { Logger } from '@lr/log';

export interface ScanDeps {
  db: Database;
  queues: MessageQueues;
  log: Logger;
  /** FOLLOW_UP_DAYS: how close to its expiry date a reached, unrenewed cycle gets a follow-up */
  followUpDays: number;
}

export interface ScanRequest {
  asOf: string;
  trigger: ScanTrigger;
}

export type ScanSummary = Awaited<ReturnType<typeof finishScan>>;

export class ScanInProgressError extends Error {
  constructor() {
    super('another scan is running');
    this.name = 'ScanInProgressError';
  }
}

/** What a dry run answers: what the scan would create and queue, in the words of its record, and by lead and by channel. */
export interface ScanDryRun {
  dryRun: true;
  asOf: string;
  remindersCreated: number;
  skipped: number;
  messagesQueued: number;
  undeliverable: number;
  /** new reminders by their lead (days), every lead of an enabled category, zeros included */
  remindersByLeadDays: Record<string, number>;
  /** messages that would be queued, by channel */
  messagesByChannel: { sms: number; push: number };
}

/**
 * The daily scan (docs/rules.md): marks reminders of licences that expired unrenewed (and
 * closes their follow-ups), writes the reminders now due with their deliveries and messages,
 * and opens the follow-ups it finds (reminders with no usable channel; reached cycles close
 * to their date and not renewed), in one transaction, then puts the messages on their queues. Messages stay 'pending' in
 * PostgreSQL until they are on a queue, so a crash between the two loses nothing: the
 * scheduler's sweeper (sweep.ts) enqueues them.
 *
 * The date is taken as given: the route, the cron and the command come in through scanFor
 * (scan-for.ts), which picks and checks it; tests, benches and the demo's replay scan the
 * dates they set.
 */
export async function runScan(deps: ScanDeps, request: ScanRequest): Promise<ScanSummary> {
  // With Redis away the scan would write messages it cannot queue: it is not started
  // (RedisUnavailableError, within a second). Should Redis go during the scan, its enqueue fails fast and the
  // lock is let go; the sweeper queues the messages left pending once Redis is back.
  await deps.queues.requireRedis();
  return underScanLock(deps.db, (conn) => scanUnderLock({ ...deps, db: conn }, request));
}

/**
 * What the scan for `asOf` would create and queue, found by running its statements in a
 * transaction that is then rolled back: no reminder, message, scan record, queue job or
 * counter is left. It takes the scan lock like a scan (a scan and a dry run at once would
 * wait on each other's rows). A date after today is answered whatever ALLOW_FUTURE_SCANS
 * says: nothing is sent, and seeing what a coming day holds is what a dry run is for.
 */
export async function dryRunScan(deps: Pick<ScanDeps, 'db' | 'log' | 'followUpDays'>, asOf: string): Promise<ScanDryRun> {
  return underScanLock(deps.db, async (conn) => {
    let answer: ScanDryRun | undefined;
    await conn
      .transaction()
      .execute(async (trx) => {
        // A record for the reminders' scan_id to point at; it goes with the rest.
        const scanId = await startScan(trx, asOf, 'api');
        const { created, windows } = await scanStatements(trx, scanId, asOf, deps.followUpDays);
        const remindersByLeadDays = Object.fromEntries(windows.map((w) => [String(w.lead), 0]));
        for (const { leadDays, reminders } of await scanRemindersByLead(trx, scanId)) remindersByLeadDays[String(leadDays)] = reminders;
        answer = {
          dryRun: true,
          asOf,
          remindersCreated: created.remindersCreated,
          skipped: created.skipped,
          messagesQueued: created.messages.length,
          undeliverable: created.undeliverable,
          remindersByLeadDays,
          messagesByChannel: {
            sms: created.messages.filter((m) => m.channel === 'sms').length,
            push: created.messages.filter((m) => m.channel === 'push').length,
          },
        };
        throw ROLL_BACK;
      })
      .catch((error: unknown) => {
        if (error !== ROLL_BACK) throw error;
      });
    deps.log.info({ ...answer }, 'scan dry run: nothing was written');
    return answer!;
  });
}

/** Thrown out of a dry run's transaction so that it is rolled back. */
const ROLL_BACK = Symbol('roll back the dry run');

/** Runs `work` on one connection holding the scan lock, or throws ScanInProgressError. */
async function underScanLock<T>(db: Database, work: (conn: Database) => Promise<T>): Promise<T> {
  const held = await withScanLock(db, work);
  if (!held.locked) throw new ScanInProgressError();
  return held.value;
}

/**
 * The scan's writes, in its transaction: a scan commits them, a dry run rolls them back, so
 * that what a dry run answers is what the scan does.
 */
async function scanStatements(trx: DatabaseTransaction, scanId: number, asOf: string, followUpDays: number) {
  await prepareScanTransaction(trx);
  const expired = await expireReminders(trx, asOf);
  await closeEndedFollowUps(trx);
  const windows = dueWindows(await categoriesForScan(trx), asOf);
  const created = await createDueReminders(trx, scanId, asOf, windows);
  const followUps = (await openFollowUpsForUndeliverable(trx, scanId)) + (await openNotRenewedFollowUps(trx, asOf, followUpDays));
  return { created, expired, followUps, windows };
}

async function scanUnderLock(deps: ScanDeps, { asOf, trigger }: ScanRequest): Promise<ScanSummary> {
  const { db, log } = deps;
  const interrupted = await abandonInterruptedScans(db);
  if (interrupted.length > 0) log.warn({ scanIds: interrupted }, 'scans that were interrupted are recorded as failed');
  const scanId = await startScan(db, asOf, trigger);
  log.info({ scanId, asOf, trigger }, 'scan started');
  try {
    const { created, expired, followUps } = await db.transaction().execute((trx) => scanStatements(trx, scanId, asOf, deps.followUpDays));
    await enqueueMessages(deps, created.messages).catch((error: unknown) => {
      if (!isRedisUnavailable(error)) throw error;
      throw new RedisUnavailableError(
        `${error instanceof RedisUnavailableError ? error.reason : (error as Error).message}; the scan wrote its ${created.remindersCreated} reminders and ` +
          `${created.messages.length} messages, which the scheduler's sweeper queues once Redis is back`,
      );
    });
    const summary = await finishScan(db, scanId, {
      remindersCreated: created.remindersCreated,
      skipped: created.skipped,
      messagesQueued: created.messages.length,
      undeliverable: created.undeliverable,
    });
    deps.queues.counters.add('remindersCreated', created.remindersCreated);
    deps.queues.counters.add('cyclesExpired', expired.cycles);
    log.info({ scanId, asOf, ...created, messages: created.messages.length, expired, followUpsOpened: followUps }, 'scan finished');
    return summary;
  } catch (error) {
    log.error({ scanId, asOf, err: error }, 'scan failed');
    await failScan(db, scanId, error instanceof Error ? error.message : String(error)).catch(() => {});
    throw error;
  }
}

/** Messages put on their queue, then marked queued, together. */
const ENQUEUE_CHUNK = 1_000;

/**
 * Puts messages on their channels' queues, then marks them queued. Each chunk is marked
 * in PostgreSQL while the next one goes to Redis, so that the two overlap. A message is
 * marked only once it is on its queue; a crash in between leaves it pending, for the
 * sweeper.
 */
export async function enqueueMessages(deps: Pick<ScanDeps, 'db' | 'queues'>, messages: { id: number; channel: 'sms' | 'push' }[]) {
  const marking: Promise<unknown>[] = [];
  let failure: { error: unknown } | undefined;
  try {
    for (const channel of ['sms', 'push'] as const) {
      const ids = messages.filter((m) => m.channel === channel).map((m) => m.id);
      for (let i = 0; i < ids.length; i += ENQUEUE_CHUNK) {
        const chunk = ids.slice(i, i + ENQUEUE_CHUNK);
        await enqueue(
          deps.queues[channel],
          messageJobs[channel],
          chunk.map((id) => ({ messageId: id })),
        );
        // The moved rows are not kept: a catch-up holds hundreds of thousands.
        marking.push(markQueued(deps.db, chunk).then(() => undefined));
      }
    }
  } catch (error) {
    failure = { error };
  }
  // Every marking started is waited for, also when an enqueue failed.
  const marked = await Promise.allSettled(marking);
  if (failure) throw failure.error;
  const refused = marked.find((r) => r.status === 'rejected');
  if (refused) throw refused.reason;
}
