import type { Logger } from '@lr/log';
import { scanFor, type ScanDeps, type ScanSummary } from '@lr/scan';
import cron, { type ScheduledTask } from 'node-cron';

export interface DailyScanOptions {
  cronExpression: string;
  timezone: string;
  /** the cron's own calendar (timezone, now) is the scan's */
  deps: ScanDeps;
  log: Logger;
  now?: () => Date;
}

/**
 * Runs the scan for today's business date at every tick of SCAN_CRON, in the
 * reminder time zone. Every replica ticks; the scan lock lets one of them scan and
 * the others step aside, so replicas need no election of their own.
 */
export function scanForToday({ timezone, deps, log, now = () => new Date() }: Omit<DailyScanOptions, 'cronExpression'>) {
  // `asOf`: the date the caller has worked out already (upkeep's round); a tick's is today.
  return async (asOf?: string): Promise<ScanSummary | undefined> => {
    // Today by the cron's clock, so never a date after today: no ALLOW_FUTURE_SCANS needed.
    const answer = await scanFor({ ...deps, timezone, now, allowFutureScans: false }, { asOf, trigger: 'cron' });
    switch (answer.kind) {
      case 'scanned':
        return answer.summary;
      case 'scan_in_progress':
        log.info({ asOf: answer.asOf }, 'another replica is scanning; this one steps aside');
        return undefined;
      case 'failed':
        log.error({ err: answer.error, asOf: answer.asOf }, 'daily scan failed');
        return undefined;
      default:
        // invalid_as_of alone can come here (a clock past 2100): today is never after today, and no dry run is asked.
        log.error({ asOf: answer.asOf, refused: answer.kind }, 'daily scan failed');
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
