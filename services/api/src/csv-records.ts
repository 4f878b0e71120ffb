/**
 * The records of an uploaded CSV file, read by papaparse's parser (about four times as
 * fast as csv-parse on licence rows, which made the parser the largest cost of an
 * import). The upload comes in whole lines (WholeLines, below), so a chunk never ends
 * inside a UTF-8 character nor between the CR and the LF of a line break; a record whose
 * quoted cell spans the end of a chunk is carried over to the next.
 *
 * A cell in quotes may hold commas, quotes written twice ("") and line breaks. Where the
 * quotes do not fit together, reading stops (see `CsvStructure`) after the records before
 * the broken one: past a misplaced quote nobody can tell where rows begin and end. A quote
 * inside an unquoted cell (ab"c) is an ordinary character, as in most spreadsheets, and
 * spaces between a closing quote and the comma are dropped.
 */
import { Transform, type TransformCallback } from 'node:stream';
import Papa from 'papaparse';

/**
 * A licence row is a few hundred bytes: a record still open after this many is a quote
 * that never closes. (A complete record is bounded by the upload's longest line.)
 */
export const MAX_RECORD_BYTES = 64 * 1024;

/** Why the reading stopped early, if it did; it is set before the records end. */
export interface CsvStructure {
  problem?: string;
}

/**
 * Yields the records of the file in batches (one per chunk read), each record its cells
 * as strings. A leading byte-order mark is dropped; blank lines come out as one empty cell.
 */
export async function* csvRecordBatches(chunks: AsyncIterable<Buffer>, structure: CsvStructure): AsyncGenerator<string[][]> {
  let parser: Papa.Parser | undefined;
  /** the start of a record not yet ended */
  let carried = '';
  let first = true;
  for await (const chunk of chunks) {
    let text = chunk.toString('utf8');
    if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    first = false;
    const input = carried + text;
    // The first line break of the file decides what ends a record, as in a spreadsheet's export.
    parser ??= new Papa.Parser({ delimiter: ',', newline: lineBreakOf(input) });
    const { records, end, problem } = parse(parser, input, false);
    if (records.length > 0) yield records;
    if (problem) {
      structure.problem = problem;
      return;
    }
    carried = input.slice(end);
    if (carried.length > MAX_RECORD_BYTES / 3 && Buffer.byteLength(carried) > MAX_RECORD_BYTES) {
      structure.problem = `the row starting here is longer than ${MAX_RECORD_BYTES} bytes: most likely a cell opens with a quote (") that is never closed`;
      return;
    }
  }
  if (carried === '' || !parser) return;
  // The end of the file ends the last record.
  const { records, problem } = parse(parser, carried, true);
  if (records.length > 0) yield records;
  if (problem) structure.problem = problem;
}

interface ParseResult {
  data: string[][];
  errors: Papa.ParseError[];
  meta: { cursor: number };
}

/**
 * The whole records of `input` (all of them when it is the end of the file), where the
 * next one starts, and what stopped the reading, if anything did.
 */
function parse(parser: Papa.Parser, input: string, last: boolean): { records: string[][]; end: number; problem?: string } {
  const { data, errors, meta } = parser.parse(input, 0, !last) as ParseResult;
  const error = errors[0];
  if (!error) return { records: data, end: meta.cursor };
  // The records before the broken one are good; nothing from it on is trusted.
  const records = data.slice(0, error.row ?? 0);
  return {
    records,
    end: meta.cursor,
    problem:
      error.code === 'MissingQuotes'
        ? 'a cell starting here opens with a quote (") that is never closed'
        : 'a quoted cell goes on after its closing quote; a quote (") inside a quoted cell must be doubled ("")',
  };
}

/** The line break of the first line: CRLF, LF or CR (LF when there is none yet). */
function lineBreakOf(text: string): '\r\n' | '\n' | '\r' {
  const at = text.search(/[\r\n]/);
  if (at < 0 || text[at] === '\n') return '\n';
  return text[at + 1] === '\n' ? '\r\n' : '\r';
}

/**
 * Passes the upload on in whole lines (ended by LF or CR) only, and stops before a line
 * longer than `max` bytes (give or take as much again): the parser would hold every cell of
 * such a line, and a line of a hundred million commas is a hundred million empty cells.
 * Cutting at a line end means the parser never sees a partial row when the input stops here,
 * and never a UTF-8 character cut in two.
 */
export class WholeLines extends Transform {
  tooLong = false;
  #rest: Buffer | undefined;
  constructor(
    private readonly max: number,
    private readonly onTooLong: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (let from = 0; from < chunk.length && !this.tooLong; from += this.max) {
      const piece = chunk.subarray(from, from + this.max);
      const data = this.#rest ? Buffer.concat([this.#rest, piece]) : piece;
      let cut = lastLineEnd(data, data.length - 1);
      // A CR at the very end may be the first half of a CR LF: it waits for what follows,
      // or the parser would end the line at the CR and find the LF at the start of the next.
      if (cut === data.length && data[cut - 1] === 13) cut = lastLineEnd(data, cut - 2);
      if (cut > 0) this.push(data.subarray(0, cut));
      this.#rest = cut < data.length ? data.subarray(cut) : undefined;
      if (this.#rest && this.#rest.length > this.max) {
        this.tooLong = true;
        this.#rest = undefined;
        this.onTooLong();
      }
    }
    done();
  }

  /** Forgets the line begun but not ended. */
  dropRest(): void {
    this.#rest = undefined;
  }

  override _flush(done: TransformCallback): void {
    if (this.#rest) this.push(this.#rest);
    this.#rest = undefined;
    done();
  }
}

/** Where the last line ending at or before `from` ends (just after its LF or CR), or 0. */
function lastLineEnd(data: Buffer, from: number): number {
  if (from < 0) return 0;
  return Math.max(data.lastIndexOf(10, from), data.lastIndexOf(13, from)) + 1;
}
