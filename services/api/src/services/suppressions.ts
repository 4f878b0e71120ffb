import { clearSuppression, recordAudit, type Database, type SmsSuppression } from '@lr/db';
import { maskPhone } from '@lr/domain';
import type { AuditActor } from '../audit';

/** The phones that get no SMS (the holder replied STOP). */
export function suppressionService({ db }: { db: Database }) {
  return {
    /** Lets SMS go to `phone` again, with its audit entry in the same transaction; undefined when it was not suppressed. */
    clear(phone: string, actor: AuditActor): Promise<SmsSuppression | undefined> {
      return db.transaction().execute(async (trx) => {
        const removed = await clearSuppression(trx, phone);
        if (removed) {
          await recordAudit(trx, {
            ...actor,
            action: 'suppression.clear',
            // The audit log holds no personal data: the phone is masked there.
            target: `suppression:${maskPhone(phone)}`,
            before: { errorCode: removed.errorCode, messageId: removed.messageId, createdAt: removed.createdAt },
            after: null,
          });
        }
        return removed;
      });
    },
  };
}
