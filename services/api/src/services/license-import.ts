/**
 * The licence import: licences from a CSV file of any size, streamed.
 *
 * The file is never held whole: the reader (license-csv.ts) reads it as it arrives, and rows
 * go to the database in chunks, one transaction per chunk. The writer (ordered-writer.ts)
 * seals and writes at most MAX_WRITES chunks while the next one is read and checked, so
 * memory stays bounded whatever the size of the file; chunks that share a licence are
 * written one after the other, so a key that comes again later in the file wins.
 *
 * Each row is checked like a batch row (checkLicenseRows). A bad row is listed with its line
 * in the file and changes nothing; good rows are kept. A broken CSV structure stops the
 * import at a named line, the rows before it kept: an operator fixes that line and sends the
 * whole file again (rows already imported then count as unchanged).
 */
import { recordAudit, sealLicenses, type Database, type SealingThread, type UpsertCounts } from '@lr/db';
import type { Counters } from '@lr/jobs';
import type { Readable } from 'node:stream';
import type { AuditActor } from '../audit';
import { readLicenseCsv, type LicenseCsvEnd } from '../license-csv';
import { orderedWriter } from '../ordered-writer';
import { checkLicenseRows } from './license-rows';
import { writeSealedLicenses } from './licenses';

/**
 * Chunks sealed and written at once, while this thread reads the next chunk. Measured on
 * two cores (bench/README.md): one leaves PostgreSQL waiting for this thread and this
 * thread for PostgreSQL; three keep both busy; four brought nothing more.
 */
const MAX_WRITES = 3;
/**
 * Rows checked and written together, in one transaction. 1,000 rather than 2,000: the
 * rows of a chunk live until it is written, and smaller chunks lowered the API's peak
 * memory by about 15 MB with no loss of speed that could be measured.
 */
const CHUNK_ROWS = 1_000;
/** The most problems listed in an answer; `rejectedCount` has the true number of rejected rows. */
export const MAX_LISTED_REJECTIONS = 10_000;

interface Rejection {
  line: number;
  field: string;
  message: string;
}

interface ImportResult extends UpsertCounts {
  /** how many rows were rejected in all */
  rejectedCount: number;
  /** the problems of the rejected rows, in file order, at most MAX_LISTED_REJECTIONS */
  rejected: Rejection[];
}

type ImportOutcome = ImportResult & LicenseCsvEnd;

export interface LicenseImportDeps {
  db: Database;
  /** the thread the id numbers are sealed on, while this one reads the file */
  sealing: SealingThread;
  counters: Counters;
}

/**
 * Imports the licences of the CSV upload `source` (see the top of this file) and records the
 * import in the audit log. Throws LicenseCsvHeaderError for a header nothing can be read under.
 */
export async function importLicenses(deps: LicenseImportDeps, source: Readable, actor: AuditActor): Promise<ImportOutcome> {
  const { db, sealing } = deps;
  const totals: UpsertCounts = { created: 0, updated: 0, renewed: 0, unchanged: 0 };
  const rejected: Rejection[] = [];
  let rejectedCount = 0;
  const list = (r: Rejection) => {
    if (rejected.length < MAX_LISTED_REJECTIONS) rejected.push(r);
  };

  const reading = readLicenseCsv(source);
  const writer = orderedWriter(MAX_WRITES);
  /** category codes found to exist, so that each chunk asks only about new ones */
  const knownCategories = new Set<string>();

  let chunk: Record<string, string>[] = [];
  let chunkLines: number[] = [];
  let chunkKeys = new Set<string>();
  /** rows refused while reading (wrong cell count, not UTF-8), since the last flush */
  let readRejections: Rejection[] = [];

  /** Checks the chunk's rows, lists the problems, and hands the valid rows to the writer. */
  const flush = async () => {
    const rows = chunk;
    const lines = chunkLines;
    const keys = chunkKeys;
    const early = readRejections;
    chunk = [];
    chunkLines = [];
    chunkKeys = new Set();
    readRejections = [];

    const { valid, errors } = rows.length > 0 ? await checkLicenseRows(db, rows, knownCategories) : { valid: [], errors: [] };
    rejectedCount += new Set(errors.map((e) => e.index)).size;
    const checked = errors.map((e) => ({ line: lines[e.index]!, field: e.field, message: e.message }));
    // The rows refused on reading and on checking, in file order (the sort is stable, so a
    // row's own problems keep their order).
    for (const r of [...early, ...checked].sort((x, y) => x.line - y.line)) list(r);

    if (valid.length === 0) return writer.check();
    const licenses = valid.map((v) => v.license);
    const span = { firstLine: lines[valid[0]!.index]!, lastLine: lines[valid.at(-1)!.index]! };
    await writer.start(keys, async () => {
      // Sealed on the sealing thread while this one reads the next chunk.
      const sealed = await sealLicenses(sealing, licenses);
      // No flush to disk per chunk: the client learns of success only at the end, and a
      // re-sent file is harmless (its rows count as unchanged), so a crash loses nothing.
      // Each chunk commits on its own, so each is audited with its write.
      const audit = { action: 'licenses.import.chunk', after: (written: UpsertCounts) => ({ rows: valid.length, ...written, ...span }) };
      const counts = await writeSealedLicenses(deps, sealed, actor, audit, { durable: false });
      totals.created += counts.created;
      totals.updated += counts.updated;
      totals.renewed += counts.renewed;
      totals.unchanged += counts.unchanged;
    });
  };

  try {
    for await (const batch of reading.batches()) {
      for (const row of batch) {
        if ('refused' in row) {
          rejectedCount += 1;
          readRejections.push({ line: row.line, ...row.refused });
          continue;
        }
        // A key seen again in this chunk goes to the next one, after this one is written.
        const key = `${row.fields.categoryCode?.trim()}\u0000${row.fields.licenseNo?.trim()}`;
        if (chunkKeys.has(key)) await flush();
        chunk.push(row.fields);
        chunkLines.push(row.line);
        chunkKeys.add(key);
        if (chunk.length >= CHUNK_ROWS) await flush();
      }
    }
    await flush();
    await writer.finish();
  } finally {
    reading.close();
    await writer.settle(); // never leave a write running behind the answer
  }

  const outcome: ImportOutcome = { ...totals, rejectedCount, rejected, ...reading.end() };
  const { rows, broken, cutOffAfterLine, rejected: _listed, ...counts } = outcome;
  if (rows > 0) {
    // Counts only: the rows hold personal data. Each chunk is committed on its own, so the
    // entry follows the import (also one that stopped at a broken line).
    await recordAudit(db, {
      ...actor,
      action: 'licenses.import',
      target: 'licenses',
      before: null,
      after: { rows, ...counts, ...(broken && { stoppedAtLine: broken.line }), ...(cutOffAfterLine !== undefined && { cutOffAfterLine }) },
    });
  }
  return outcome;
}
