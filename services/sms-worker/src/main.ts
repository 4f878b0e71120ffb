import { hostname } from 'node:os';
import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { startDeliveryWorker } from '@lr/delivery';
import { redisConnection, sendSms } from '@lr/jobs';
import { createLogger, runService } from '@lr/log';
import { logSender, smsChannel } from './sms.channel';
import { twilioSender } from './twilio.sender';

await runService('sms-worker', async () => {
  const config = loadConfig('sms-worker');
  const log = createLogger('sms-worker', config.logLevel);
  const database = connect(config.databaseUrl, { applicationName: 'sms-worker' });
  const connection = redisConnection(config.redisUrl);
  const sender =
    config.sms.provider === 'twilio'
      ? twilioSender(config.sms, `${config.publicBaseUrl}/webhooks/twilio/status`)
      : logSender(log);
  const worker = startDeliveryWorker({
    job: sendSms,
    channel: smsChannel(sender),
    deps: { db: database.db, log, workerId: `sms-${hostname()}-${process.pid}` },
    connection,
    prefix: config.queuePrefix,
    concurrency: 8,
    quietHours: config.quietHours,
    timezone: config.timezone,
    ratePerSecond: config.smsRatePerSec,
  });
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  log.info({ provider: config.sms.provider, queuePrefix: config.queuePrefix }, 'sms worker started');
  return {
    log,
    async stop() {
      await worker.close(); // waits for in-flight jobs
      await connection.quit();
      await database.close();
    },
  };
});
