import { recordAudit, type Database } from '@lr/db';
import type { AuditActor } from '../audit';

/** A change made on the queue dashboard (retry, clean, pause, add, remove...). */
export interface DashboardWrite {
  /** the queue it was made on; none when it was made on every queue */
  queueName: string | undefined;
  /** method and path, without the query */
  request: string;
  status: number;
}

/** The queue dashboard's writes, audited like every other write. */
export function queueDashboardService({ db }: { db: Database }) {
  return {
    /**
     * The audit entry of a change the dashboard made. It happened in Redis, so the entry
     * follows it rather than sharing a transaction; the change stands if the entry cannot be
     * written, and the caller logs that.
     */
    recordWrite(write: DashboardWrite, actor: AuditActor): Promise<void> {
      return recordAudit(db, {
        ...actor,
        action: 'queue.dashboard',
        target: `queue:${write.queueName ?? 'all'}`,
        before: null,
        after: { request: write.request, status: write.status },
      });
    },
  };
}
