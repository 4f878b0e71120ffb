/**
 * What a write of licences means, licence by licence (docs/rules.md, "Renewal"): the rule
 * alone. packages/db's licence repository works out the states under the write's row locks
 * and applies the consequences in the same transaction.
 */
import type { LicenseStatus } from './types';

/** A licence's id, expiry date and status, as the write compares them. */
export interface LicenseState {
  id: number;
  expiresOn: string;
  status: LicenseStatus;
}

/** What a write changed, licence by licence (ids), as docs/rules.md names it. */
export interface LicenseChanges {
  /** licences that did not exist */
  created: number[];
  /** a later expiresOn: a renewal, from the old date to the new */
  renewed: { id: number; oldExpiresOn: string; newExpiresOn: string }[];
  /** any other expiresOn (a renewal or a correction): the reminders of the old date are stale */
  redated: number[];
  /** active before, revoked now */
  revoked: number[];
}

/**
 * The rules of a licence's change (docs/rules.md, "Renewal"): a later expiresOn is a renewal,
 * an earlier one a correction; either leaves the old date's reminders stale; active to
 * revoked is a revocation. `before` holds the licences as they were (none for a new one),
 * `written` those the write created or changed.
 */
export function licenseChanges(before: ReadonlyMap<number, LicenseState>, written: LicenseState[]): LicenseChanges {
  const changes: LicenseChanges = { created: [], renewed: [], redated: [], revoked: [] };
  for (const now of written) {
    const was = before.get(now.id);
    if (was === undefined) {
      changes.created.push(now.id);
      // A new licence is written active or revoked; neither is a revocation.
      continue;
    }
    if (was.expiresOn < now.expiresOn) changes.renewed.push({ id: now.id, oldExpiresOn: was.expiresOn, newExpiresOn: now.expiresOn });
    if (was.expiresOn !== now.expiresOn) changes.redated.push(now.id);
    if (was.status === 'active' && now.status === 'revoked') changes.revoked.push(now.id);
  }
  return changes;
}
