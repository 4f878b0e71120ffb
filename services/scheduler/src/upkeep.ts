import { deleteOldInboxMessages, eraseMessageText, scanSucceededFor, sweepFollowUps, type Database } from '@lr/db';
import { localDate, localMidnight } from '@lr/domain';
import type { Logger } from '@lr/log';
import { sweepUnsent, type ScanDeps, type SweepDeps } from '@lr/scan';
import type { ScheduledTask } from 'node-cron';

export interface UpkeepOptions {
  deps: ScanDeps & SweepDeps;
  timezone: string;
  /** the SCAN_CRON task: when today's scan was due */
  dailyScan: Pick<ScheduledTask, 'match'>;
  /** runs the scan for the round's date (today); never throws (cron.ts scanForToday) */
  scanToday: (asOf: string) => Promise<unknown>;
  intervalMs: number;
  /** MESSAGE_RETENTION_DAYS: sent text older than this is erased */
  messageRetentionDays: number;
  /** with a provider whose receipts can be looked up (providers.ts: receiptLookUp): looks up the next SMS left without a receipt (reconcile.ts) */
  reconcileReceipts?: () => Promise<unknown>;
  log: Logger;
  now?: () => Date;
}

/** Whether SCAN_CRON fired earlier on the local day of `now`, checked minute by minute since local midnight. */
export function firedEarlierToday(dailyScan: Pick<ScheduledTask, 'match'>, timezone: string, now: Date): boolean {
  for (let t = localMidnight(timezone, now).getTime(); t <= now.getTime(); t += 60_000) {
    if (dailyScan.match(new Date(t))) return true;
  }
  return false;
}

/**
 * Today's scan is owed when its time has come today and no scan for today has
 * succeeded: the scheduler was down at that time, was killed in the middle of the scan,
 * or the scan failed (PostgreSQL restarting). Running it again is harmless: the
 * reminders' unique key makes a scan create only what is still missing.
 */
export async function owesTodaysScan(
  options: Pick<UpkeepOptions, 'deps' | 'timezone' | 'dailyScan'>,
  now: Date,
  today = localDate(options.timezone, now),
): Promise<boolean> {
  if (!firedEarlierToday(options.dailyScan, options.timezone, now)) return false;
  return !(await scanSucceededFor(options.deps.db, today));
}

/** Messages erased per statement: a short transaction that locks few rows. */
const RETENTION_BATCH = 1000;
/** At most this many statements a round, so that a first round's backlog does not hold up the next sweep; the next round goes on. */
const RETENTION_BATCHES_PER_ROUND = 50;

/**
 * The retention of personal data (PIPL): the text of messages made more than `days` ago is
 * erased and their in-app inbox copies deleted, in batches of `batch`, at most `maxBatches`
 * of each a call. The messages' records stay (the ledger, the figures).
 */
export async function applyMessageRetention(
  db: Database,
  days: number,
  now: Date,
  { batch = RETENTION_BATCH, maxBatches = RETENTION_BATCHES_PER_ROUND } = {},
): Promise<{ messages: number; inbox: number }> {
  const before = new Date(now.getTime() - days * 86_400_000);
  let messages = 0;
  let inbox = 0;
  for (let i = 0; i < maxBatches; i++) {
    const erased = await eraseMessageText(db, before, batch);
    const deleted = await deleteOldInboxMessages(db, before, batch);
    messages += erased;
    inbox += deleted;
    if (erased < batch && deleted < batch) break;
  }
  return { messages, inbox };
}

/**
 * One round of upkeep: today's scan if it is owed, the sweep of lost messages, the
 * follow-ups' (follow-up.repository), the retention of sent text, then (with a provider that
 * can be asked) the look-up of SMS left without a receipt.
 */
export async function upkeep(options: UpkeepOptions): Promise<void> {
  const { deps, log } = options;
  const now = options.now?.() ?? new Date();
  // The round's business date: today in REMINDER_TIMEZONE, once.
  const today = localDate(options.timezone, now);
  try {
    if (await owesTodaysScan(options, now, today)) {
      log.warn({ asOf: today }, "today's scan is owed (missed, interrupted or failed); running it now");
      await options.scanToday(today);
    }
  } catch (error) {
    log.error({ err: error }, "could not check whether today's scan ran");
  }
  try {
    const { unsent, requeued } = await sweepUnsent(deps);
    if (requeued > 0) log.warn({ unsent, requeued }, 'messages missing from their queues were put back');
  } catch (error) {
    log.error({ err: error }, 'sweep failed; the next one will try again');
  }
  try {
    const { opened, closed } = await sweepFollowUps(deps.db, today, deps.followUpDays);
    if (opened > 0 || closed > 0) log.info({ opened, closed }, 'follow-ups opened and closed by the sweep');
  } catch (error) {
    log.error({ err: error }, 'follow-up sweep failed; the next one will try again');
  }
  try {
    const { messages, inbox } = await applyMessageRetention(deps.db, options.messageRetentionDays, now);
    if (messages > 0 || inbox > 0) log.info({ messages, inbox, retentionDays: options.messageRetentionDays }, 'text of old messages erased');
  } catch (error) {
    log.error({ err: error }, 'message retention failed; the next round will try again');
  }
  if (options.reconcileReceipts) {
    try {
      await options.reconcileReceipts();
    } catch (error) {
      log.error({ err: error }, 'looking up SMS without a receipt failed; the next round will try again');
    }
  }
}

/**
 * Runs upkeep at start and then every intervalMs, one round at a time. Every replica
 * does this; two sweeps at once add nothing twice (job ids are the message ids) and two
 * owed scans meet at the scan lock.
 */
export function startUpkeep(options: UpkeepOptions): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let round: Promise<void> = Promise.resolve();
  const next = () => {
    round = upkeep(options).finally(() => {
      if (!stopped) timer = setTimeout(next, options.intervalMs);
    });
  };
  next();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
