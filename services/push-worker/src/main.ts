import { hostname } from 'node:os';
import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { startDeliveryWorker } from '@lr/delivery';
import { redisConnection, sendPush } from '@lr/jobs';
import { createLogger, runService } from '@lr/log';
import { gatewaySender } from './gateway.sender';
import { logSender, pushChannel } from './push.channel';

await runService('push-worker', async () => {
  const config = loadConfig('push-worker');
  const log = createLogger('push-worker', config.logLevel);
  const database = connect(config.databaseUrl, { applicationName: 'push-worker' });
  const connection = redisConnection(config.redisUrl);
  const sender = config.push.provider === 'gateway' ? gatewaySender(config.push) : logSender(log);
  const worker = startDeliveryWorker({
    job: sendPush,
    channel: pushChannel(database.db, sender),
    deps: { db: database.db, log, workerId: `push-${hostname()}-${process.pid}` },
    connection,
    prefix: config.queuePrefix,
    concurrency: 16,
    quietHours: config.quietHours,
    timezone: config.timezone,
  });
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  log.info({ provider: config.push.provider, queuePrefix: config.queuePrefix }, 'push worker started');
  return {
    log,
    async stop() {
      await worker.close();
      await connection.quit();
      await database.close();
    },
  };
});
