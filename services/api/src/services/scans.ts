import { recordAudit } from '@lr/db';
import type { Logger } from '@lr/log';
import { scanFor, type ScanAnswer, type ScanCalendar, type ScanDeps } from '@lr/scan';
import type { AuditActor } from '../audit';

/** A scan asked for over the API: scanFor's answer, with the audit entry of a scan that ran. */
export function scanService(deps: ScanDeps & ScanCalendar) {
  return {
    async run(asked: { asOf?: string | undefined; dryRun: boolean }, actor: AuditActor, log: Pick<Logger, 'error'>): Promise<ScanAnswer> {
      const answer = await scanFor(deps, { asOf: asked.asOf, trigger: 'api', dryRun: asked.dryRun });
      // A dry run writes nothing, so nothing is audited. A scan commits in several steps of its
      // own (the scans row is its record), so its audit entry follows once it has succeeded
      // rather than sharing a transaction; the scan stands if the entry cannot be written.
      if (answer.kind === 'scanned') {
        const { asOf } = answer;
        const { id, status, remindersCreated, skipped, messagesQueued, undeliverable } = answer.summary;
        await recordAudit(deps.db, {
          ...actor,
          action: 'scan.run',
          target: `scan:${id}`,
          before: null,
          after: { asOf, status, remindersCreated, skipped, messagesQueued, undeliverable },
        }).catch((error: unknown) => log.error({ err: error, scanId: id }, 'scan ran but its audit entry was not written'));
      }
      return answer;
    },
  };
}
