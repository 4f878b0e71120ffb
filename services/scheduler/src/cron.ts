import { localDate } from '@lr/domain';
import type { Logger } from '@lr/log';
import { runScan, ScanInProgressError, type ScanCalendar, type ScanDeps } from '@lr/scan';
import cron, { type ScheduledTask } from 'node-cron';

export interface DailyScanOptions {
  cronExpression: string;
  timezone: string;
  /** the cron's own calendar (timezone, now) is the scan's */
  deps: Omit<ScanDeps, keyof ScanCalendar>;
  log: Logger;
  now?: () => Date;
}

/**
 * Runs the scan for today's business date at every tick of SCAN_CRON, in the
 * reminder time zone. Every replica ticks; the scan lock lets one of them scan and
 * the others step aside, so replicas need no election of their own.
 */
export function scanForToday({ timezone, deps, log, now = () => new Date() }: Omit<DailyScanOptions, 'cronExpression'>) {
  return async () => {
    const asOf = localDate(timezone, now());
    try {
      // Today by the same clock, so never a date after today: no ALLOW_FUTURE_SCANS needed.
      return await runScan({ ...deps, timezone, now, allowFutureScans: false }, { asOf, trigger: 'cron' });
    } catch (error) {
      if (error instanceof ScanInProgressError) {
        log.info({ asOf }, 'another replica is scanning; this one steps aside');
        return undefined;
      }
      log.error({ err: error, asOf }, 'daily scan failed');
      return undefined;
    }
  };
}

export interface DailyScan {
  /** the cron task, which knows when the scan is due */
  task: ScheduledTask;
  /** stops the ticks, then waits for a scan that a tick started */
  stop(): Promise<void>;
}

export function scheduleDailyScan(options: DailyScanOptions): DailyScan {
  const scan = scanForToday(options);
  let running: Promise<unknown> = Promise.resolve();
  const task = cron.schedule(
    options.cronExpression,
    () => {
      running = scan();
      return running;
    },
    { timezone: options.timezone, name: 'daily-scan', noOverlap: true },
  );
  return {
    task,
    async stop() {
      await task.stop();
      await running;
    },
  };
}
