import { loadConfig } from '@lr/config';
import { connect, logDatabaseAvailability } from '@lr/db';
import { openProducerQueues } from '@lr/jobs';
import { runService, serviceLogger } from '@lr/log';
import { receiptLookUp } from '@lr/sms';
import { scanForToday, scheduleDailyScan } from './cron';
import { PASS_EVERY_MINUTES, receiptReconciler } from './reconcile';
import { startUpkeep } from './upkeep';

/**
 * A scan's statement that runs longer is cancelled (the scan fails, and upkeep runs it
 * again): a catch-up scan of ten million licences runs its longest in well under a minute
 * (bench/README.md), so this is far above any that works.
 */
const STATEMENT_TIMEOUT_MS = 600_000;

await runService('scheduler', async () => {
  const config = loadConfig('scheduler');
  const log = serviceLogger('scheduler', config);
  const database = connect(config.databaseUrl, {
    max: 4,
    applicationName: 'scheduler',
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    watch: { onAvailability: logDatabaseAvailability(log) },
  });
  const queues = openProducerQueues(config.redisUrl, config.queuePrefix, log);
  const deps = { db: database.db, queues, log, followUpDays: config.followUpDays };
  const daily = { timezone: config.timezone, deps, log };
  const receipts = receiptLookUp(config);
  const dailyScan = scheduleDailyScan({ ...daily, cronExpression: config.scanCron });
  const upkeep = startUpkeep({
    deps: { ...deps, redis: queues.connection, claimLeaseSeconds: config.claimLeaseSeconds },
    timezone: config.timezone,
    dailyScan: dailyScan.task,
    scanToday: scanForToday(daily),
    intervalMs: config.sweepIntervalSeconds * 1000,
    messageRetentionDays: config.messageRetentionDays,
    reconcileReceipts: receipts ? receiptReconciler({ db: database.db, receipts, log, passEveryMinutes: PASS_EVERY_MINUTES }) : undefined,
    log,
  });
  log.info({ cron: config.scanCron, timezone: config.timezone, sweepIntervalSeconds: config.sweepIntervalSeconds }, 'scheduler started');
  return {
    log,
    async stop() {
      // A scan under way is finished, not cut off (it would be re-run, but that costs a scan).
      await dailyScan.stop();
      await upkeep.stop();
      await queues.close();
      await database.close();
    },
  };
});
