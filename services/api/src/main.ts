import { loadConfig } from '@lr/config';
import { connect, logDatabaseAvailability } from '@lr/db';
import { openProducerQueues } from '@lr/jobs';
import { runService, serviceLogger } from '@lr/log';
import { buildApp } from './app';

/**
 * A statement of a request (a report, a scan started here) that runs longer is cancelled,
 * so that none holds its connection for good. A CSV download's COPY, which runs as long as
 * its client reads, sets its own (csv-copy.ts).
 */
const STATEMENT_TIMEOUT_MS = 120_000;

await runService('api', async () => {
  const config = loadConfig('api');
  const log = serviceLogger('api', config);
  const database = connect(config.databaseUrl, {
    applicationName: 'api',
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    watch: { onAvailability: logDatabaseAvailability(log) },
  });
  const queues = openProducerQueues(config.redisUrl, config.queuePrefix, log);
  const app = await buildApp({ config, db: database.db, cancelBackend: database.cancelBackend, redis: queues.connection, queues, log });
  await app.listen({ host: config.host, port: config.port });
  return {
    log,
    async stop() {
      await app.close(); // stops accepting, lets requests in flight finish
      await queues.close();
      await database.close();
    },
  };
});
