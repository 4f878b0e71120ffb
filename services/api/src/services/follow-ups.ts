import {
  copyFollowUps,
  findFollowUp,
  listFollowUps,
  recordAudit,
  recordFollowUpAction,
  type CsvCopySettings,
  type Database,
  type FollowUpFilter,
  type NewFollowUpAction,
} from '@lr/db';
import { localDate, maskText } from '@lr/domain';
import type { Writable } from 'node:stream';
import type { AuditActor } from '../audit';

export type FollowUpAction = Omit<NewFollowUpAction, 'apiKeyId' | 'actor'>;

export interface FollowUpServiceDeps {
  db: Database;
  /** REMINDER_TIMEZONE: days left count from its today */
  timezone: string;
  copy: CsvCopySettings;
}

/** The follow-ups and staff's work on them (docs/rules.md, "Follow-up"); days left count from today in `timezone`. */
export function followUpService({ db, timezone, copy }: FollowUpServiceDeps) {
  const today = () => localDate(timezone);
  return {
    today,

    /** A page of follow-ups, most urgent first (expiry date, then id), after `after`. */
    list(filter: FollowUpFilter, page: { after?: { expiresOn: string; id: number }; limit: number }) {
      return listFollowUps(db, filter, today(), page);
    },

    find(id: number) {
      return findFollowUp(db, id, today());
    },

    /** Writes the follow-ups as CSV rows to `to`, days left counted from `day` (the day the file is named after). */
    copy(filter: FollowUpFilter, day: string, to: Writable) {
      return copyFollowUps(db, filter, day, to, copy);
    },

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
