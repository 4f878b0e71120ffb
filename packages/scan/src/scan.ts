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
  startScan,
  type Database,
  type DueWindow,
} from '@lr/db';
import { addDays, isBusinessDate, reminderWindows, type Category } from '@lr/domain';
import { enqueue, messageJobs, type MessageQueues } from '@lr/jobs';
import type { Logger } from '@lr/log';
import { sql } from 'kysely';

export interface ScanDeps {
  db: Database;
  queues: MessageQueues;
  log: Logger;
  /** FOLLOW_UP_DAYS: how close to its expiry date a reached, unrenewed cycle gets a follow-up */
  followUpDays: number;
}

export interface ScanRequest {
  asOf: string;
  trigger: 'cron' | 'api' | 'command';
}

export type ScanSummary = Awaited<ReturnType<typeof finishScan>>;

export class ScanInProgressError extends Error {
  constructor() {
    super('another scan is running');
    this.name = 'ScanInProgressError';
  }
}

// One scan at a time across every scheduler replica and API process. Correctness does
// not rest on it (the unique reminder key does); it keeps scans from racing for rows.
export const SCAN_LOCK = 7_364_201;

/** Why a date cannot be a scan's as-of date (contract: a real date from 2000-01-01 to 2100-12-31), or undefined. */
export function asOfProblem(asOf: string): string | undefined {
  if (!isBusinessDate(asOf) || asOf < '2000-01-01' || asOf > '2100-12-31') return 'must be a real date (YYYY-MM-DD) from 2000-01-01 to 2100-12-31';
  return undefined;
}

/** The windows of every enabled category, as expiry-date ranges for the scan's date. */
export function dueWindows(categories: Pick<Category, 'code' | 'leadDays' | 'enabled'>[], asOf: string): DueWindow[] {
  return categories
    .filter((c) => c.enabled)
    .flatMap((c) =>
      reminderWindows(c.leadDays).map((w) => ({
        categoryCode: c.code,
        lead: w.lead,
        from: addDays(asOf, w.fromDaysLeft),
        to: addDays(asOf, w.toDaysLeft),
      })),
    );
}

/**
 * The daily scan (docs/rules.md): marks reminders of licences that expired unrenewed (and
 * closes their follow-ups), writes the reminders now due with their deliveries and messages,
 * and opens the follow-ups it finds (reminders with no usable channel; reached cycles close
 * to their date and not renewed), in one transaction, then puts the messages on their queues. Messages stay 'pending' in
 * PostgreSQL until they are on a queue, so a crash between the two loses nothing: the
 * scheduler's sweeper (sweep.ts) enqueues them.
 */
export async function runScan(deps: ScanDeps, request: ScanRequest): Promise<ScanSummary> {
  return deps.db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${SCAN_LOCK}) as locked`.execute(conn);
    if (!rows[0]?.locked) throw new ScanInProgressError();
    try {
      return await scanUnderLock({ ...deps, db: conn }, request);
    } finally {
      await sql`select pg_advisory_unlock(${SCAN_LOCK})`.execute(conn).catch(() => {});
    }
  });
}

async function scanUnderLock(deps: ScanDeps, { asOf, trigger }: ScanRequest): Promise<ScanSummary> {
  const { db, log } = deps;
  const interrupted = await abandonInterruptedScans(db);
  if (interrupted.length > 0) log.warn({ scanIds: interrupted }, 'scans that were interrupted are recorded as failed');
  const scanId = await startScan(db, asOf, trigger);
  log.info({ scanId, asOf, trigger }, 'scan started');
  try {
    const { created, expired, followUps } = await db.transaction().execute(async (trx) => {
      // The scan's statements are planned as costly (millions of licences), so PostgreSQL
      // would compile them (JIT: over a second, for statements that then run in less) and
      // sort the windows' licences on disk in its default 4 MB.
      await sql`set local jit = off`.execute(trx);
      await sql`set local work_mem = '64MB'`.execute(trx);
      const expired = await expireReminders(trx, asOf);
      await closeEndedFollowUps(trx);
      const windows = dueWindows(await categoriesForScan(trx), asOf);
      const created = await createDueReminders(trx, scanId, asOf, windows);
      const followUps =
        (await openFollowUpsForUndeliverable(trx, scanId)) + (await openNotRenewedFollowUps(trx, asOf, deps.followUpDays));
      return { created, expired, followUps };
    });
    await enqueueMessages(deps, created.messages);
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
