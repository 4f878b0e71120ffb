// The job catalogue's payload check, on a real Redis: a job whose payload is not its
// definition's shape (put on the queue by something other than enqueue, or left by an older
// version) fails at once, naming what is wrong, and never reaches the processor or a retry.
import { freshMessageQueues, type TestQueues } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, redisConnection, sendSms, startWorker } from '../src';

let redis: TestQueues;

beforeAll(async () => {
  redis = await freshMessageQueues();
});

afterAll(async () => {
  await redis?.cleanup();
});

describe('a worker of the catalogue', () => {
  it('fails a job with a bad payload once, without retrying it or running its processor, and runs a good one', async () => {
    const seen: number[] = [];
    const connection = redisConnection(redis.url);
    const worker = startWorker(sendSms, async ({ messageId }) => void seen.push(messageId), { connection, prefix: redis.prefix, concurrency: 1 });
    try {
      // As an older producer might have queued it: the catalogue's retry options, the wrong shape.
      await redis.queues.sms.add(sendSms.name, { messageId: '7' }, { ...sendSms.options, jobId: 'sms-bad' });
      await enqueue(redis.queues.sms, sendSms, [{ messageId: 8 }]);
      for (const id of ['sms-bad', 'sms-8']) {
        await expect.poll(async () => (await redis.queues.sms.getJob(id))?.finishedOn, { timeout: 10_000 }).toBeDefined();
      }
      const failed = (await redis.queues.sms.getJob('sms-bad'))!;
      expect(await failed.getState()).toBe('failed');
      expect(failed.attemptsMade).toBe(1);
      expect(failed.failedReason).toBe('send-sms: payload /messageId Expected integer');
      expect(seen).toEqual([8]);
    } finally {
      await worker.close();
      await connection.quit();
    }
  });

  it('refuses to queue a payload of the wrong shape', async () => {
    await expect(enqueue(redis.queues.sms, sendSms, [{ messageId: 0 }])).rejects.toThrow(/^send-sms: payload \/messageId Expected integer to be greater or equal to 1/);
    expect(await redis.queues.sms.getJob('sms-0')).toBeUndefined();
  });
});
