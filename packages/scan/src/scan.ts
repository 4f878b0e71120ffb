import {
  abandonInterruptedScans,
  categoriesForScan,
  createDueReminders,
  expireReminders,
  failScan,
  finishScan,
  markQueued,
  startScan,
  type Database,
  type DueWindow,
} from '@lr/db';
import { addDays, isBusinessDate, reminderWindows, type Category } from '@lr/domain';
import { enqueue, messageJobs } from '@lr/jobs';
import type { Logger } from '@lr/log';
import type { Queue } from 'bullmq';
import { sql } from 'kysely';

export interface ScanDeps {
  db: Database;
  queues: { sms: Queue; push: Queue };
  log: Logger;
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
 * The daily scan (design.md): marks reminders of licences that expired unrenewed,
 * writes the reminders now due with their deliveries and messages in one
 * transaction, then puts the messages on their queues. Messages stay 'pending' in
 * PostgreSQL until they are on a queue, so a crash between the two loses nothing.
 */
export async function runScan(deps: ScanDeps, request: ScanRequest): Promise<ScanSummary> {
  return deps.db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${SCAN_LOCK}) as locked`.execute(conn);
    if (!rows[0]?.locked) throw new ScanInProgressError();
    try {
      return await scanUnderLock(deps, conn, request);
    } finally {
      await sql`select pg_advisory_unlock(${SCAN_LOCK})`.execute(conn).catch(() => {});
    }
  });
}

/** `conn` holds the scan lock and does the scan's own work; `deps.db`'s pool lends a second connection for the expiry. */
async function scanUnderLock(deps: ScanDeps, conn: Database, { asOf, trigger }: ScanRequest): Promise<ScanSummary> {
  const { log } = deps;
  const interrupted = await abandonInterruptedScans(conn);
  if (interrupted.length > 0) log.warn({ scanIds: interrupted }, 'scans that were interrupted are recorded as failed');
  const scanId = await startScan(conn, asOf, trigger);
  log.info({ scanId, asOf, trigger }, 'scan started');
  // Reminders whose licence passed its date are closed beside the window, on a connection
  // of their own: the two touch different reminders (dates before the scan's, and from it
  // on), and the new reminders reach their queues sooner. Settled at once, so that a
  // failure waits for the await below rather than going unhandled.
  const expiring = deps.db
    .transaction()
    .execute((trx) => expireReminders(trx, asOf))
    .then(
      (expired) => ({ expired }),
      (error: unknown) => ({ error }),
    );
  try {
    const created = await conn.transaction().execute(async (trx) => {
      // The scan's statements are planned as costly (millions of licences), so PostgreSQL
      // would compile them (JIT: over a second, for statements that then run in less) and
      // sort the windows' licences on disk in its default 4 MB.
      await sql`set local jit = off`.execute(trx);
      await sql`set local work_mem = '64MB'`.execute(trx);
      const windows = dueWindows(await categoriesForScan(trx), asOf);
      return createDueReminders(trx, scanId, asOf, windows);
    });
    await enqueueMessages({ ...deps, db: conn }, created.messages);
    const expiry = await expiring;
    if ('error' in expiry) throw expiry.error;
    const summary = await finishScan(conn, scanId, {
      remindersCreated: created.remindersCreated,
      messagesQueued: created.messages.length,
      undeliverable: created.undeliverable,
    });
    const { remindersCreated, undeliverable, messages } = created;
    log.info({ scanId, asOf, remindersCreated, undeliverable, messages: messages.length, expired: expiry.expired }, 'scan finished');
    return summary;
  } catch (error) {
    await expiring;
    log.error({ scanId, asOf, err: error }, 'scan failed');
    await failScan(conn, scanId, error instanceof Error ? error.message : String(error)).catch(() => {});
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
