import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import { createLogger, runService } from '@lr/log';
import { scheduleDailyScan } from './cron';

await runService('scheduler', async () => {
  const config = loadConfig('scheduler');
  const log = createLogger('scheduler', config.logLevel);
  const database = connect(config.databaseUrl, { max: 4, applicationName: 'scheduler' });
  const connection = redisConnection(config.redisUrl);
  const queues = openMessageQueues(connection, config.queuePrefix);
  const task = scheduleDailyScan({
    cronExpression: config.scanCron,
    timezone: config.timezone,
    deps: { db: database.db, queues, log },
    log,
  });
  log.info({ cron: config.scanCron, timezone: config.timezone }, 'scheduler started');
  return {
    log,
    async stop() {
      await task.stop();
      await queues.close();
      await connection.quit();
      await database.close();
    },
  };
});
