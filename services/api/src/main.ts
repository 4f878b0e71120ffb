import { loadConfig } from '@lr/config';
import { connect } from '@lr/db';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import { runService, serviceLogger } from '@lr/log';
import { buildApp } from './app';

await runService('api', async () => {
  const config = loadConfig('api');
  const log = serviceLogger('api', config);
  const database = connect(config.databaseUrl, { applicationName: 'api' });
  const redis = redisConnection(config.redisUrl);
  const queues = openMessageQueues(redis, config.queuePrefix);
  const app = await buildApp({ config, db: database.db, cancelBackend: database.cancelBackend, redis, queues, log });
  await app.listen({ host: config.host, port: config.port });
  return {
    log,
    async stop() {
      await app.close(); // stops accepting, lets requests in flight finish
      await queues.close();
      await redis.quit();
      await database.close();
    },
  };
});
