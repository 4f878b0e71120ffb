import { unsentMessages } from '@lr/db';
import { jobsThatWillNotRun, messageJobs } from '@lr/jobs';
import type { Redis } from 'ioredis';
import { enqueueMessages, type ScanDeps } from './scan';

/** Messages compared with the queues per round trip. */
const PAGE = 5_000;

export type SweepDeps = Pick<ScanDeps, 'db' | 'queues'> & { redis: Redis; claimLeaseSeconds: number };

export interface SweepSummary {
  /** messages that PostgreSQL says are not yet with a worker */
  unsent: number;
  /** of those, the ones put back on their queue */
  requeued: number;
}

/**
 * Puts back on its queue every message that PostgreSQL says is unsent but whose job will
 * not run: those a scan committed and then crashed before enqueueing, those lost when
 * Redis lost its data (docs/guarantees.md: Redis holds work in flight only), those whose id a
 * finished job still holds, and those whose worker stopped mid-send (claimed longer than
 * CLAIM_LEASE_SECONDS ago) when their job is gone or finished. A message whose job waits is
 * left alone, so a sweep costs one look-up per unsent message and adds nothing twice; were
 * a job added twice anyway, the worker's claim would send it once.
 */
export async function sweepUnsent(deps: SweepDeps): Promise<SweepSummary> {
  let unsent = 0;
  let requeued = 0;
  for (let afterId = 0; ; ) {
    const page = await unsentMessages(deps.db, afterId, PAGE, deps.claimLeaseSeconds);
    if (page.length === 0) break;
    afterId = page.at(-1)!.id;
    unsent += page.length;
    const missing = async (channel: 'sms' | 'push') => {
      const payloads = page.filter((m) => m.channel === channel).map((m) => ({ messageId: m.id }));
      const lost = await jobsThatWillNotRun(deps.redis, deps.queues[channel], messageJobs[channel], payloads);
      return lost.map(({ messageId }) => ({ id: messageId, channel }));
    };
    const lost = [...(await missing('sms')), ...(await missing('push'))];
    if (lost.length > 0) await enqueueMessages(deps, lost);
    requeued += lost.length;
  }
  return { unsent, requeued };
}
