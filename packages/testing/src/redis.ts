import { randomBytes } from 'node:crypto';
import { openMessageQueues, redisConnection, type MessageQueues } from '@lr/jobs';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

export interface TestRedis {
  url: string;
  /** a QUEUE_PREFIX of this test's own, so test files can share one Redis */
  prefix: string;
  client: Redis;
  /** deletes this prefix's keys: what a Redis that lost its data looks like to this test */
  dropKeys(): Promise<void>;
  /** deletes this prefix's keys and disconnects */
  cleanup(): Promise<void>;
}

export async function freshQueuePrefix(): Promise<TestRedis> {
  const url = inject('testServices').redisUrl;
  const prefix = `lr-test-${randomBytes(5).toString('hex')}`;
  const client = new Redis(url, { maxRetriesPerRequest: null });
  const dropKeys = async () => {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  };
  return {
    url,
    prefix,
    client,
    dropKeys,
    async cleanup() {
      await dropKeys();
      client.disconnect();
    },
  };
}

export interface TestQueues extends TestRedis {
  /** the connection the queues use */
  connection: Redis;
  queues: MessageQueues;
}

/** The two message queues on a prefix of this test's own; cleanup closes them and deletes their keys. */
export async function freshMessageQueues(): Promise<TestQueues> {
  const redis = await freshQueuePrefix();
  const connection = redisConnection(redis.url);
  const queues = openMessageQueues(connection, redis.prefix);
  return {
    ...redis,
    connection,
    queues,
    async cleanup() {
      // Closed first, so that no queue writes a key after they are deleted.
      await queues.close();
      await connection.quit();
      await redis.cleanup();
    },
  };
}
