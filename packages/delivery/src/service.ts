import { hostname } from 'node:os';
import { loadConfig, type Config } from '@lr/config';
import { connect, type Database } from '@lr/db';
import { redisConnection, type MessageJob } from '@lr/jobs';
import { runService, serviceLogger, type Logger } from '@lr/log';
import type { Channel, SentContent } from './deliver';
import { startDeliveryWorker, statementTimeoutMs } from './worker';

export interface DeliveryService<Content extends SentContent> {
  name: 'sms-worker' | 'push-worker';
  job: MessageJob;
  /** the channel, built from the configuration once it is read */
  channel(config: Config, db: Database, log: Logger): Channel<Content>;
  /** the setting that picks the channel's provider, and its value: `log` sends nothing */
  provider(config: Config): { setting: string; value: string };
  ratePerSecond?(config: Config): number;
}

/** The process around a delivery worker: configuration, pools, and a clean stop on SIGTERM. */
export function runDeliveryService<Content extends SentContent>(service: DeliveryService<Content>): Promise<void> {
  return runService(service.name, async () => {
    const config = loadConfig(service.name);
    const log = serviceLogger(service.name, config);
    const provider = service.provider(config);
    // npm start runs the log providers on purpose; anywhere else they are a mistake that
    // nobody would notice until holders miss their reminders.
    if (provider.value === 'log' && !config.npmStart) {
      log.warn(`${provider.setting}=log: messages are only written to this log, nothing reaches the holders`);
    }
    const database = connect(config.databaseUrl, {
      applicationName: service.name,
      statementTimeoutMs: statementTimeoutMs(config.claimLeaseSeconds),
    });
    const connection = redisConnection(config.redisUrl);
    const worker = startDeliveryWorker({
      job: service.job,
      channel: service.channel(config, database.db, log),
      deps: {
        db: database.db,
        log,
        workerId: `${service.name}-${hostname()}-${process.pid}`,
        claimLeaseSeconds: config.claimLeaseSeconds,
        maxClaims: service.job.options.attempts ?? 1,
        linkBaseUrl: config.linkBaseUrl,
      },
      connection,
      prefix: config.queuePrefix,
      concurrency: config.deliveryConcurrency,
      quietHours: config.quietHours,
      timezone: config.timezone,
      ratePerSecond: service.ratePerSecond?.(config),
    });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    log.info({ queue: service.job.queue, queuePrefix: config.queuePrefix }, `${service.name} started`);
    return {
      log,
      async stop() {
        await worker.close(); // waits for the jobs in flight
        await connection.quit();
        await database.close();
      },
    };
  });
}
