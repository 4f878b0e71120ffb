// What bench/scan.ts and its child processes (scan-child.ts, scan-floor.ts) share.
import type pg from 'pg';

export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/lr_bench_scan';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The bench's own queues: their keys are deleted before every scan and at the end. */
export const QUEUE_PREFIX = 'lr-bench-scan';

/** What scan-child.ts prints: one scan, as the scheduler runs it. */
export interface ScanResult {
  asOf: string;
  scanId: number;
  remindersCreated: number;
  messagesQueued: number;
  undeliverable: number;
  /** wall time of runScan */
  seconds: number;
  /** peak RSS of the process, from the kernel */
  peakRssMb: number;
  /** CPU time of the process during runScan (all its threads) */
  cpuSeconds: number;
  /** CPU time of the PostgreSQL backend that ran the scan, from its start */
  backendCpuSeconds: number;
  /**
   * every SQL statement of the scan, in order: what it was, when it started and ended (ms from
   * the scan's start), and whether it was one of createDueReminders'
   */
  statements: { what: string; start: number; end: number; due: boolean }[];
  /** time spent in addBulk (Redis round trips), summed over the chunks */
  addBulkSeconds: number;
  addBulkCalls: number;
}

/** What scan-floor.ts prints. */
export interface FloorResult {
  /** the window query over the expiry dates the scan found new (rangesWindowQuery): the rows it created reminders for */
  querySeconds: number;
  rows: number;
  addBulkSeconds: number;
  jobs: number;
  /** every licence in the scan's windows, without row locks: as the scan joins them, and as ranges */
  fullWindowRows: number;
  fullJoinedSeconds: number;
  fullRangesSeconds: number;
}

export interface Window {
  categoryCode: string;
  lead: number;
  from: string;
  to: string;
}

/**
 * The window query as the scan writes it: the windows joined from unnest. The planner cannot
 * see the dates behind unnest.
 */
export function joinedWindowQuery(windows: Window[]): { text: string; values: unknown[] } {
  return {
    text: `
      select l.id, l.expires_on, w.lead
        from unnest($1::text[], $2::int[], $3::date[], $4::date[]) as w(category_code, lead, from_date, to_date)
        join licenses l
          on l.category_code = w.category_code and l.status = 'active'
         and l.expires_on between w.from_date and w.to_date`,
    values: [windows.map((w) => w.categoryCode), windows.map((w) => w.lead), windows.map((w) => w.from), windows.map((w) => w.to)],
  };
}

/** The same windows as one range condition each: the planner sees each range in licenses_active_by_expiry. */
export function rangesWindowQuery(windows: Window[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const param = (value: unknown) => `$${values.push(value)}`;
  const ranges = windows.map(
    (w) => `(l.category_code = ${param(w.categoryCode)} and l.expires_on between ${param(w.from)}::date and ${param(w.to)}::date)`,
  );
  return {
    text: `select l.id, l.expires_on from licenses l where l.status = 'active' and (${ranges.join(' or ') || 'false'})`,
    values,
  };
}

/**
 * The windows narrowed to the expiry dates that were new to a scan, per category and lead:
 * they hold exactly the licences it created reminders for (the scan's own windows cover 61
 * days, and all but the new rows had their reminder already).
 */
export async function narrowedWindows(pool: pg.Pool, scanId: number): Promise<Window[]> {
  const { rows } = await pool.query<Window>(
    `select l.category_code as "categoryCode", r.lead_days as lead, min(r.expires_on) as "from", max(r.expires_on) as "to"
       from reminders r join licenses l on l.id = r.license_id
      where r.scan_id = $1
      group by 1, 2`,
    [scanId],
  );
  return rows;
}
