/**
 * POST /v1/licenses/import: licences from a CSV file of any size, streamed.
 *
 * The request body is never held whole: a content-type parser hands the raw request
 * stream to the handler, csv-records.ts reads it as it arrives, and rows go to the database
 * in chunks, one transaction per chunk. At most MAX_WRITES chunks are being sealed and
 * written while the next one is parsed and checked, so memory stays bounded whatever the
 * size of the file;
 * chunks that share a licence are written one after the other, so a key that comes
 * again later in the file wins.
 *
 * What an operator gets back, and why:
 * - Each row is checked like a batch row (checkLicenseRows). A bad row is listed with its
 *   line in the file (the header is line 1; a row spanning several lines because of a
 *   quoted line break has the line it starts on) and changes nothing; good rows are kept.
 * - A header naming an unknown column, naming one twice or missing a required one is a
 *   422 before any row is read: nothing could be imported correctly from such a file.
 * - A row with more or fewer cells than the header is a rejected row.
 * - A broken CSV structure (a quote never closed, text after a closing quote) stops the
 *   import with a 422 that names the line and gives the counts so far: the rows before
 *   that line are kept, nothing from it on is read. We do not skip over it: after a
 *   misplaced quote the parser cannot tell where rows begin and end, so skipping would
 *   silently swallow the following rows (with an unclosed quote, the rest of the file) or
 *   read them wrongly. Stopping at a named line is what an operator can act on: fix that
 *   line and send the whole file again (rows already imported then count as unchanged).
 *   A quote inside an unquoted cell (ab"c) is read as an ordinary character, as
 *   spreadsheets read it.
 * - Blank lines, and rows whose cells are all empty (spreadsheets leave them at the end),
 *   are skipped; they still count as lines.
 */
import { sql } from 'kysely';
import { inTransaction, recordAudit, sealLicenses, upsertSealedLicenses, type Database, type SealingThread, type UpsertCounts } from '@lr/db';
import { LICENSE_FIELDS, ROW_FIELD } from '@lr/domain';
import type { Counters } from '@lr/jobs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { finished, type Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import type { RequireRole } from '../auth';
import { ApiError } from '../errors';
import { csvRecordBatches, WholeLines, type CsvStructure } from '../csv-records';
import { checkLicenseRows } from '../license-rows';
import { auditActor } from '../audit';

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
/** A longer line is not a licence row; the parser would hold every cell of it (a line of commas is all cells). */
const MAX_LINE_BYTES = 1024 * 1024;

const KNOWN_COLUMNS: ReadonlySet<string> = new Set(LICENSE_FIELDS);
const OPTIONAL_COLUMNS: ReadonlySet<string> = new Set(['phone', 'platformUserId', 'status']);
const REQUIRED_COLUMNS = LICENSE_FIELDS.filter((f) => !OPTIONAL_COLUMNS.has(f));

export interface Rejection {
  line: number;
  field: string;
  message: string;
}

export interface ImportResult extends UpsertCounts {
  /** how many rows were rejected in all */
  rejectedCount: number;
  /** the problems of the rejected rows, in file order, at most MAX_LISTED_REJECTIONS */
  rejected: Rejection[];
}

/** The body of a text/csv request: the request stream, unread. Private, so no hook walks into the stream. */
class CsvUpload {
  readonly #stream: Readable;
  constructor(stream: Readable) {
    this.#stream = stream;
  }
  get stream(): Readable {
    return this.#stream;
  }
  toJSON(): string {
    return '(text/csv stream)';
  }
}

const unsupported = (message: string) => new ApiError(415, 'unsupported_media_type', message);

const RejectionSchema = Type.Object({ line: Type.Integer(), field: Type.String(), message: Type.String() });

export function licenseImportRoutes(db: Database, sealing: SealingThread, counters: Counters, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    // This plugin's routes take text/csv only. The parser does not read the body: it passes
    // the stream on. Fastify applies bodyLimit only where it reads a body itself (parsers
    // declared with parseAs), so a file of any size comes through, unbuffered.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('text/csv', (request, payload, done) => {
      const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(request.headers['content-type'] ?? '')?.[1];
      if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
        done(unsupported(`the file must be UTF-8 text (charset=utf-8), not charset=${charset}; save it as "CSV UTF-8"`), undefined);
        return;
      }
      done(null, new CsvUpload(payload));
    });
    app.addContentTypeParser('*', (request, _payload, done) => {
      done(unsupported(`send the file as text/csv (UTF-8), not ${request.headers['content-type'] ?? 'without a content type'}`), undefined);
    });

    app.post(
      '/v1/licenses/import',
      {
        onRequest: requireRole('admin'),
        // The body is a stream: nothing for ajv to check. The body schema only documents it.
        validatorCompiler: () => () => true,
        schema: {
          tags: ['licenses'],
          description:
            'Imports licences from a CSV file (text/csv, UTF-8 with or without BOM), streamed, of any size. ' +
            `The header row names the columns: ${LICENSE_FIELDS.join(', ')} (phone, platformUserId and status may be left out; ` +
            'an empty cell is an absent value). Rows are checked like those of POST /v1/licenses/batch and upserted on ' +
            '(categoryCode, licenseNo) in file order, so a key repeated later in the file wins. Valid rows are kept; a ' +
            'rejected row changes nothing and is listed with its line (the header is line 1) and reason; at most ' +
            `${MAX_LISTED_REJECTIONS} problems are listed, rejectedCount is the number of rejected rows. A header with an ` +
            'unknown, repeated or missing column is a 422 before any row is read. A broken CSV structure (e.g. a quote ' +
            'never closed) stops the import with a 422 naming the line, with the counts of the rows before it, which are kept.',
          consumes: ['text/csv'],
          body: Type.Unsafe<CsvUpload>({ type: 'string', format: 'binary', description: 'the CSV file' }),
          response: {
            200: Type.Object({
              created: Type.Integer(),
              updated: Type.Integer(),
              renewed: Type.Integer(),
              unchanged: Type.Integer(),
              rejectedCount: Type.Integer({ description: 'rejected rows in all' }),
              rejected: Type.Array(RejectionSchema, { description: `at most ${MAX_LISTED_REJECTIONS}, in file order; a row with several problems has several entries` }),
            }),
          },
        },
      },
      async (request) => {
        if (!(request.body instanceof CsvUpload)) throw unsupported('send the file as text/csv (UTF-8)');
        const started = performance.now();
        const outcome = await importCsv(db, sealing, counters, request.body.stream, auditActor(request));
        const { broken, cutOffAfterLine, rows, ...result } = outcome;
        const { rejected: _listed, ...counts } = result;
        request.log.info({ rows, ms: Math.round(performance.now() - started), ...counts, broken, cutOffAfterLine }, 'licence import finished');
        if (rows > 0) {
          // Counts only: the rows hold personal data. Each chunk is committed on its own, so
          // the entry follows the import (also one that stopped at a broken line).
          await recordAudit(db, {
            ...auditActor(request),
            action: 'licenses.import',
            target: 'licenses',
            before: null,
            after: { rows, ...counts, ...(broken && { stoppedAtLine: broken.line }), ...(cutOffAfterLine !== undefined && { cutOffAfterLine }) },
          });
        }
        if (cutOffAfterLine !== undefined) {
          // Nobody is left to read this; it is for the log.
          throw new ApiError(
            400,
            'upload_incomplete',
            `the upload broke off after line ${cutOffAfterLine}; the rows up to that line were imported (${counts.created} created, ` +
              `${counts.updated} updated, ${counts.renewed} renewed, ${counts.unchanged} unchanged, ${counts.rejectedCount} rejected)`,
          );
        }
        if (broken) {
          const { line, reason } = broken;
          throw new ApiError(
            422,
            'invalid_csv',
            `line ${line}: ${reason}. The rows before line ${line} were imported (${counts.created} created, ` +
              `${counts.updated} updated, ${counts.renewed} renewed, ${counts.unchanged} unchanged, ${counts.rejectedCount} rejected); ` +
              `nothing from line ${line} on was read. Correct the file and send it again: rows already imported count as unchanged.`,
            { line, ...result },
          );
        }
        return result;
      },
    );
  };
}

interface ImportOutcome extends ImportResult {
  /** data rows read (not the header, not blank lines) */
  rows: number;
  /** where the CSV structure broke, if it did */
  broken?: { line: number; reason: string };
  /** the client went away before the end of the file: the last line read whole */
  cutOffAfterLine?: number;
}

/** Reads the CSV from `source` and imports its rows; see the top of this file. */
async function importCsv(
  db: Database,
  sealing: SealingThread,
  counters: Counters,
  source: Readable,
  actor: ReturnType<typeof auditActor>,
): Promise<ImportOutcome> {
  const totals: UpsertCounts = { created: 0, updated: 0, renewed: 0, unchanged: 0 };
  const rejected: Rejection[] = [];
  let rejectedCount = 0;
  let rows = 0;

  /** where the CSV structure broke, if it did */
  const structure: CsvStructure = {};
  /** why the upload itself failed (the client went away), if it did */
  let uploadError: Error | undefined;
  const stopReading = () => {
    source.unpipe(lines);
    if (!lines.writableEnded && !lines.destroyed) lines.end();
  };
  const lines = new WholeLines(MAX_LINE_BYTES, stopReading);
  // A client that goes away mid-upload ends the import (the rows so far are kept).
  finished(source, (error) => {
    if (!error) return;
    uploadError = error;
    lines.dropRest(); // a line cut off by the disconnection is not a row
    stopReading();
  });
  source.pipe(lines);

  // ---- chunks: check, then write while the next chunk is read ----
  let chunk: Record<string, string>[] = [];
  let chunkLines: number[] = [];
  let chunkKeys = new Set<string>();
  /** rows refused while reading (wrong cell count, not UTF-8), since the last flush */
  let readRejections: Rejection[] = [];
  /**
   * Chunks being sealed and written, at most MAX_WRITES at once; they never reject: a
   * failure is kept in writeFailure.
   */
  let writing: { keys: Set<string>; done: Promise<void> }[] = [];
  let writeFailure: { error: unknown } | undefined;

  /** category codes found to exist, so that each chunk asks only about new ones */
  const knownCategories = new Set<string>();

  const list = (r: Rejection) => {
    if (rejected.length < MAX_LISTED_REJECTIONS) rejected.push(r);
  };
  const waitForWrites = async (until: () => boolean = () => writing.length === 0) => {
    while (!until()) await Promise.race(writing.map((w) => w.done));
    if (writeFailure) throw writeFailure.error;
  };

  const flush = async () => {
    const rowsToCheck = chunk;
    const lines = chunkLines;
    const keys = chunkKeys;
    const early = readRejections;
    chunk = [];
    chunkLines = [];
    chunkKeys = new Set();
    readRejections = [];

    const { valid, errors } = rowsToCheck.length > 0 ? await checkLicenseRows(db, rowsToCheck, knownCategories) : { valid: [], errors: [] };
    rejectedCount += new Set(errors.map((e) => e.index)).size;
    const checked = errors.map((e) => ({ line: lines[e.index]!, field: e.field, message: e.message }));
    // The rows refused on reading and on checking, in file order (the sort is stable, so a
    // row's own problems keep their order).
    for (const r of [...early, ...checked].sort((x, y) => x.line - y.line)) list(r);

    if (valid.length === 0) return waitForWrites(() => true);
    const licenses = valid.map((v) => v.license);
    const span = { firstLine: lines[valid[0]!.index]!, lastLine: lines[valid.at(-1)!.index]! };
    // A chunk that shares a licence with one being written waits for it: the file's order
    // holds for every licence, and chunks of different licences may commit in any order.
    await waitForWrites(() => writing.length < MAX_WRITES && !writing.some((w) => sharesKey(w.keys, keys)));
    // Sealed on the sealing thread while this one reads the next chunk.
    const done = sealLicenses(sealing, licenses)
      .then((sealed) =>
        inTransaction(db, async (trx) => {
          // No flush to disk per chunk: the client learns of success only at the end, and a
          // re-sent file is harmless (its rows count as unchanged), so a crash loses nothing.
          await sql`set local synchronous_commit = off`.execute(trx);
          const counts = await upsertSealedLicenses(trx, sealed);
          // Each chunk commits on its own, so each is audited with its write (counts only).
          await recordAudit(trx, { ...actor, action: 'licenses.import.chunk', target: 'licenses', before: null, after: { rows: valid.length, ...counts, ...span } });
          return counts;
        }),
      )
      .then(
        (counts) => {
          totals.created += counts.created;
          totals.updated += counts.updated;
          totals.renewed += counts.renewed;
          totals.unchanged += counts.unchanged;
          counters.add('renewals', counts.renewed);
        },
        (error: unknown) => {
          writeFailure = { error };
        },
      )
      .finally(() => {
        writing = writing.filter((w) => w.done !== done);
      });
    writing.push({ keys, done });
  };

  // ---- reading ----
  let header: string[] | undefined;
  /** the line the next record starts on */
  let line = 1;
  try {
    for await (const batch of csvRecordBatches(lines, structure)) {
      for (const record of batch) {
        const start = line;
        line += 1 + lineBreaksIn(record);
        if (isBlank(record)) continue;
        if (!header) {
          header = readHeader(record);
          continue;
        }
        rows += 1;
        if (record.length !== header.length) {
          rejectedCount += 1;
          readRejections.push({ line: start, field: ROW_FIELD, message: `has ${record.length} cells; the header has ${header.length}` });
          continue;
        }
        const row: Record<string, string> = {};
        let notUtf8: string | undefined;
        for (let i = 0; i < header.length; i++) {
          const cell = record[i]!;
          if (cell === '') continue; // an empty cell is an absent value
          if (cell.includes('\uFFFD')) notUtf8 ??= header[i];
          row[header[i]!] = cell;
        }
        if (notUtf8 !== undefined) {
          rejectedCount += 1;
          readRejections.push({ line: start, field: notUtf8, message: 'is not UTF-8 text; save the file as "CSV UTF-8"' });
          continue;
        }
        // A key seen again in this chunk goes to the next one, after this one is written.
        const key = `${row.categoryCode?.trim()}\u0000${row.licenseNo?.trim()}`;
        if (chunkKeys.has(key)) await flush();
        chunk.push(row);
        chunkLines.push(start);
        chunkKeys.add(key);
        if (chunk.length >= CHUNK_ROWS) await flush();
      }
      // Lets PostgreSQL's answers in: while the upload has data buffered, the loop would
      // otherwise go on reading without ever returning to the event loop, and every
      // statement of the chunks being written would wait for it.
      await setImmediate();
    }
    await flush();
    await waitForWrites();
  } finally {
    stopReading();
    // What was not read is drained, so that the client can finish sending and get the answer.
    source.resume();
    await Promise.all(writing.map((w) => w.done)); // never leave a write running behind the answer
  }

  // A line cut off for its length ends the input there; the parser may then also find an open
  // quote. So may an upload broken off in a quoted cell, which is not the file's fault.
  const broken = uploadError
    ? undefined
    : lines.tooLong
    ? { line, reason: `the row starting here has a line longer than ${MAX_LINE_BYTES} bytes` }
    : structure.problem !== undefined
    ? { line, reason: structure.problem }
    : undefined;
  return { ...totals, rejectedCount, rejected, rows, ...(broken && { broken }), ...(uploadError && { cutOffAfterLine: line - 1 }) };
}

/** The column names of the header row; a 422 naming every unknown, repeated or missing column. */
function readHeader(record: string[]): string[] {
  const names = record.map((c) => c.trim());
  const details: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    if (!KNOWN_COLUMNS.has(name)) details.push({ field: name, message: name === '' ? 'a column without a name' : 'unknown column' });
    else if (seen.has(name)) details.push({ field: name, message: 'column appears twice' });
    seen.add(name);
  }
  for (const name of REQUIRED_COLUMNS) {
    if (!seen.has(name)) details.push({ field: name, message: 'required column is missing' });
  }
  if (details.length > 0) {
    const describe = (message: string) =>
      details
        .filter((d) => d.message === message)
        .map((d) => JSON.stringify(d.field))
        .join(', ');
    const parts = [
      ['unknown columns', describe('unknown column')],
      ['columns without a name', describe('a column without a name')],
      ['repeated columns', describe('column appears twice')],
      ['missing columns', describe('required column is missing')],
    ]
      .filter(([, list]) => list !== '')
      .map(([what, list]) => `${what} ${list}`);
    throw new ApiError(
      422,
      'invalid_csv_header',
      `the header row (line 1) has ${parts.join('; ')}. It names the columns, each once: ${LICENSE_FIELDS.join(', ')} ` +
        `(${[...OPTIONAL_COLUMNS].join(', ')} may be left out). Nothing was imported`,
      details,
    );
  }
  return names;
}

function sharesKey(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const key of b) if (a.has(key)) return true;
  return false;
}

function isBlank(record: string[]): boolean {
  return !record.some((cell) => cell !== '' && cell.trim() !== '');
}

/** Line breaks inside the cells of a record (in quoted cells): CRLF, LF and CR each count as one. */
function lineBreaksIn(record: string[]): number {
  let breaks = 0;
  for (const cell of record) {
    if (!cell.includes('\n') && !cell.includes('\r')) continue;
    for (let i = 0; i < cell.length; i++) {
      const c = cell.charCodeAt(i);
      if (c === 10 || (c === 13 && cell.charCodeAt(i + 1) !== 10)) breaks += 1;
    }
  }
  return breaks;
}
