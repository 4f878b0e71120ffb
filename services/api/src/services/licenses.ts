import {
  deferCommitFlush,
  inTransaction,
  licenseContact,
  recordAudit,
  sealLicenses,
  upsertSealedLicenses,
  type Database,
  type SealedLicenses,
  type UpsertCounts,
} from '@lr/db';
import type { License } from '@lr/domain';
import type { Counters } from '@lr/jobs';
import type { AuditActor } from '../audit';
import { checkLicenseRows, type RowError } from './license-rows';

/** Whatever seals id numbers: the API's own sealer, or the import's sealing thread. */
type Sealer = Parameters<typeof sealLicenses>[0];

export interface LicenseServiceDeps {
  db: Database;
  sealer: Sealer;
  counters: Counters;
}

/** The audit entry of a write of licences: counts only, as the rows hold personal data. */
export interface LicenseWriteAudit {
  action: string;
  after: (counts: UpsertCounts) => Record<string, unknown>;
}

/**
 * Writes sealed licences and their audit entry in one transaction (nothing is written
 * without its record), then counts the renewals. What a changed licence means (renewal,
 * correction, revocation) is applied by upsertSealedLicenses in the same transaction.
 * `durable: false` skips the flush to disk at commit (the import's chunks: see there).
 */
export async function writeSealedLicenses(
  { db, counters }: Pick<LicenseServiceDeps, 'db' | 'counters'>,
  sealed: SealedLicenses,
  actor: AuditActor,
  audit: LicenseWriteAudit,
  { durable = true }: { durable?: boolean } = {},
): Promise<UpsertCounts> {
  const counts = await inTransaction(db, async (trx) => {
    if (!durable) await deferCommitFlush(trx);
    const written = await upsertSealedLicenses(trx, sealed);
    await recordAudit(trx, { ...actor, action: audit.action, target: 'licenses', before: null, after: audit.after(written) });
    return written;
  });
  counters.add('renewals', counts.renewed);
  return counts;
}

/** Licences as the API writes and reads them: rows checked, sealed, upserted and audited. */
export function licenseService(deps: LicenseServiceDeps) {
  const { db, sealer } = deps;
  return {
    /**
     * A batch of licence rows, all or nothing: the problems of every invalid row and nothing
     * written, or the counts of what the write changed.
     */
    async writeBatch(rows: unknown[], actor: AuditActor): Promise<{ errors: RowError[] } | { counts: UpsertCounts }> {
      const { valid, errors } = await checkLicenseRows(db, rows);
      if (errors.length > 0) return { errors };
      const licenses: License[] = valid.map((v) => v.license);
      // Sealed before a connection is taken. Here rather than on the import's sealing thread:
      // the request waits for it either way, and the thread's round trip measured slower.
      const sealed = await sealLicenses(sealer, licenses);
      const counts = await writeSealedLicenses(deps, sealed, actor, {
        action: 'licenses.batch',
        after: (written) => ({ rows: licenses.length, ...written }),
      });
      return { counts };
    },

    /** A licence's unmasked contact; the read and its audit entry commit together: no phone is shown without its record. */
    contact(id: number, actor: AuditActor) {
      return db.transaction().execute(async (trx) => {
        const found = await licenseContact(trx, id);
        if (found) await recordAudit(trx, { ...actor, action: 'licenses.contact.read', target: `license:${id}`, before: null, after: null });
        return found;
      });
    },
  };
}
