import { recordFollowUpAction, recordAudit, type Database, type NewFollowUpAction } from '@lr/db';
import { maskText } from '@lr/domain';
import type { AuditActor } from '../audit';

export type FollowUpAction = Omit<NewFollowUpAction, 'apiKeyId' | 'actor'>;

/** Staff's work on the follow-ups (docs/rules.md, "Follow-up"). */
export function followUpService({ db }: { db: Database }) {
  return {
    /**
     * Records a call, visit or message on an open follow-up (closing it when asked), with its
     * audit entry in the same transaction; 'missing' or 'closed' when there is no open one.
     */
    async recordAction(id: number, given: FollowUpAction, actor: AuditActor): Promise<'recorded' | 'missing' | 'closed'> {
      // A note is shown to every viewer and kept in the audit log: a phone or id number typed
      // into it is masked as in every answer (the whole phone is the audited contact read's).
      const { note, ...rest } = given;
      const action = note === undefined ? rest : { ...rest, note: maskText(note) };
      return db.transaction().execute(async (trx) => {
        const recorded = await recordFollowUpAction(trx, id, { ...action, ...actor });
        if (recorded === 'recorded') {
          await recordAudit(trx, { ...actor, action: 'follow-up.action', target: `follow-up:${id}`, before: null, after: action });
        }
        return recorded;
      });
    },
  };
}
