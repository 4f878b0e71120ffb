import { dateRule, isBusinessDate, localDate, SCAN_DATES } from '@lr/domain';
import type { ScanTrigger } from '@lr/db';
import { dryRunScan, runScan, ScanInProgressError, type ScanDeps, type ScanDryRun, type ScanSummary } from './scan';

/** What a scan's way in knows of the calendar: which day is today, and whether it may scan a later one. */
export interface ScanCalendar {
  /** REMINDER_TIMEZONE: whose calendar says which day today is */
  timezone: string;
  /** ALLOW_FUTURE_SCANS: whether a scan may be for a date after today (tests, demos, replays) */
  allowFutureScans: boolean;
  /** the clock; tests set it */
  now?: () => Date;
}

/** A scan asked for: by whom, for which date (default today in REMINDER_TIMEZONE), and whether only as a dry run. */
interface ScanOrder {
  asOf?: string;
  trigger: ScanTrigger;
  dryRun?: boolean;
}

/**
 * How a scan asked for ended. The refusals are named by the contract's error codes, which
 * the route answers with; the cron logs them and the command turns them into exit statuses.
 */
export type ScanAnswer =
  | { kind: 'scanned'; asOf: string; summary: ScanSummary }
  | { kind: 'dry_run'; asOf: string; dryRun: ScanDryRun }
  /** not a business date; `message` says what it must be */
  | { kind: 'invalid_as_of'; asOf: string; message: string }
  /** after today, and ALLOW_FUTURE_SCANS is off */
  | { kind: 'as_of_in_future'; asOf: string; today: string; message: string }
  /** another scan or dry run holds the scan lock: nothing was done */
  | { kind: 'scan_in_progress'; asOf: string }
  /** the scan was started and failed (its record says so), or could not start (Redis or PostgreSQL away) */
  | { kind: 'failed'; asOf: string; error: unknown };

/**
 * The one way in to a scan for the route (POST /v1/scans), the scheduler's cron and
 * `npm run scan`: picks the date (today in REMINDER_TIMEZONE unless given), checks it,
 * refuses a date after today unless ALLOW_FUTURE_SCANS=on, and runs the scan or its dry run.
 * It answers rather than throws, so that each caller only translates the answer.
 */
export async function scanFor(deps: ScanDeps & ScanCalendar, order: ScanOrder & { dryRun?: false }): Promise<Exclude<ScanAnswer, { kind: 'dry_run' }>>;
export async function scanFor(deps: ScanDeps & ScanCalendar, order: ScanOrder): Promise<ScanAnswer>;
export async function scanFor(deps: ScanDeps & ScanCalendar, order: ScanOrder): Promise<ScanAnswer> {
  const today = localDate(deps.timezone, deps.now?.());
  const asOf = order.asOf ?? today;
  if (!isBusinessDate(asOf, SCAN_DATES)) return { kind: 'invalid_as_of', asOf, message: `must be ${dateRule(SCAN_DATES)}` };
  try {
    // A dry run sends nothing, so any date will do: seeing what a coming day holds is what it is for.
    if (order.dryRun) return { kind: 'dry_run', asOf, dryRun: await dryRunScan(deps, asOf) };
    // A scan for a later date would send real messages now, telling holders the wrong number of
    // days left, spend each window's only reminder early, and mark open reminders expired for good.
    if (asOf > today && !deps.allowFutureScans) return { kind: 'as_of_in_future', asOf, today, message: futureScanRefused(asOf, today, deps.timezone) };
    return { kind: 'scanned', asOf, summary: await runScan(deps, { asOf, trigger: order.trigger }) };
  } catch (error) {
    if (error instanceof ScanInProgressError) return { kind: 'scan_in_progress', asOf };
    return { kind: 'failed', asOf, error };
  }
}

function futureScanRefused(asOf: string, today: string, timezone: string): string {
  return (
    `${asOf} is after today (${today} in ${timezone}): a scan for a later date would send real messages early, ` +
    'with the wrong days left, and spend their windows; ALLOW_FUTURE_SCANS=on allows it (tests, demos, replays)'
  );
}
