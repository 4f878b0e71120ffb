/**
 * The reader of a licence import: an uploaded CSV file, as it arrives, turned into rows of
 * licence fields (by column name) with the line each starts on. It checks only what the
 * file's shape says; the rows' fields are checked as a batch's are, by the import service.
 *
 * - The header names the columns. One naming an unknown column, naming one twice or missing a
 *   required one is refused (LicenseCsvHeaderError) before any row is read: nothing could be
 *   read correctly from such a file.
 * - A row with more or fewer cells than the header, or with a cell that is not UTF-8, is a
 *   rejected row, given with its line.
 * - Blank lines, and rows whose cells are all empty (spreadsheets leave them at the end), are
 *   skipped; they still count as lines. The header is line 1; a row spanning several lines
 *   because of a quoted line break has the line it starts on.
 * - A broken CSV structure (a quote never closed, text after a closing quote, a line too
 *   long) ends the reading at that line (`LicenseCsvEnd.broken`); the rows before it are
 *   read. We do not skip over it: after a misplaced quote the parser cannot tell where rows
 *   begin and end, so skipping would silently swallow the following rows (with an unclosed
 *   quote, the rest of the file) or read them wrongly. Stopping at a named line is what an
 *   operator can act on. A quote inside an unquoted cell (ab"c) is read as an ordinary
 *   character, as spreadsheets read it.
 * - A client that goes away mid-upload ends the reading after its last whole line.
 */
import { LICENSE_FIELDS, ROW_FIELD } from '@lr/domain';
import { finished, type Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { csvRecordBatches, WholeLines, type CsvStructure } from './csv-records';

/** A longer line is not a licence row; the parser would hold every cell of it (a line of commas is all cells). */
const MAX_LINE_BYTES = 1024 * 1024;

const KNOWN_COLUMNS: ReadonlySet<string> = new Set(LICENSE_FIELDS);
const OPTIONAL_COLUMNS: ReadonlySet<string> = new Set(['phone', 'platformUserId', 'status']);
const REQUIRED_COLUMNS = LICENSE_FIELDS.filter((f) => !OPTIONAL_COLUMNS.has(f));

/** A data row of the file: its non-empty cells by column name, or why it was refused on reading. */
export type LicenseCsvRow =
  | { line: number; fields: Record<string, string> }
  | { line: number; refused: { field: string; message: string } };

export interface LicenseCsvEnd {
  /** data rows read (not the header, not blank lines) */
  rows: number;
  /** where the CSV structure broke, if it did */
  broken?: { line: number; reason: string };
  /** the client went away before the end of the file: the last line read whole */
  cutOffAfterLine?: number;
}

export interface LicenseCsvReading {
  /** The data rows, a batch at a time as the upload arrives, in file order. */
  batches(): AsyncGenerator<LicenseCsvRow[]>;
  /** How the reading ended; once the batches are done. */
  end(): LicenseCsvEnd;
  /** Stops reading. What was not read is drained, so that the client can finish sending and get the answer. */
  close(): void;
}

/** The header row named unknown, repeated or no columns, or left out required ones: nothing was read. */
export class LicenseCsvHeaderError extends Error {
  constructor(
    message: string,
    readonly details: { field: string; message: string }[],
  ) {
    super(message);
  }
}

/** Reads the licence rows of the CSV upload `source`; see the top of this file. */
export function readLicenseCsv(source: Readable): LicenseCsvReading {
  /** where the CSV structure broke, if it did */
  const structure: CsvStructure = {};
  /** why the upload itself failed (the client went away), if it did */
  let uploadError: Error | undefined;
  const stopReading = () => {
    source.unpipe(lines);
    if (!lines.writableEnded && !lines.destroyed) lines.end();
  };
  const lines = new WholeLines(MAX_LINE_BYTES, stopReading);
  // A client that goes away mid-upload ends the reading (the rows so far are kept).
  finished(source, (error) => {
    if (!error) return;
    uploadError = error;
    lines.dropRest(); // a line cut off by the disconnection is not a row
    stopReading();
  });
  source.pipe(lines);

  let rows = 0;
  /** the line the next record starts on */
  let line = 1;

  async function* batches(): AsyncGenerator<LicenseCsvRow[]> {
    let header: string[] | undefined;
    for await (const batch of csvRecordBatches(lines, structure)) {
      const read: LicenseCsvRow[] = [];
      for (const record of batch) {
        const start = line;
        line += 1 + lineBreaksIn(record);
        if (isBlank(record)) continue;
        if (!header) {
          header = readHeader(record);
          continue;
        }
        rows += 1;
        read.push(rowOf(record, header, start));
      }
      if (read.length > 0) yield read;
      // Lets PostgreSQL's answers in: while the upload has data buffered, the loop would
      // otherwise go on reading without ever returning to the event loop, and every
      // statement of the chunks being written would wait for it.
      await setImmediate();
    }
  }

  function end(): LicenseCsvEnd {
    // A line cut off for its length ends the input there; the parser may then also find an open
    // quote. So may an upload broken off in a quoted cell, which is not the file's fault.
    const broken = uploadError
      ? undefined
      : lines.tooLong
      ? { line, reason: `the row starting here has a line longer than ${MAX_LINE_BYTES} bytes` }
      : structure.problem !== undefined
      ? { line, reason: structure.problem }
      : undefined;
    return { rows, ...(broken && { broken }), ...(uploadError && { cutOffAfterLine: line - 1 }) };
  }

  function close(): void {
    stopReading();
    source.resume();
  }

  return { batches, end, close };
}

/** A record under `header`: its non-empty cells by column, or why it is refused. */
function rowOf(record: string[], header: string[], line: number): LicenseCsvRow {
  if (record.length !== header.length) {
    return { line, refused: { field: ROW_FIELD, message: `has ${record.length} cells; the header has ${header.length}` } };
  }
  const fields: Record<string, string> = {};
  let notUtf8: string | undefined;
  for (let i = 0; i < header.length; i++) {
    const cell = record[i]!;
    if (cell === '') continue; // an empty cell is an absent value
    if (cell.includes('\uFFFD')) notUtf8 ??= header[i];
    fields[header[i]!] = cell;
  }
  if (notUtf8 !== undefined) return { line, refused: { field: notUtf8, message: 'is not UTF-8 text; save the file as "CSV UTF-8"' } };
  return { line, fields };
}

/** The column names of the header row; LicenseCsvHeaderError naming every unknown, repeated or missing column. */
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
    throw new LicenseCsvHeaderError(
      `the header row (line 1) has ${parts.join('; ')}. It names the columns, each once: ${LICENSE_FIELDS.join(', ')} ` +
        `(${[...OPTIONAL_COLUMNS].join(', ')} may be left out). Nothing was imported`,
      details,
    );
  }
  return names;
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
