import { Readable } from 'node:stream';
import { setTimeout } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { csvRecordBatches, MAX_RECORD_BYTES, WholeLines, type CsvStructure } from './csv-records';

/** Reads an upload that arrives in these pieces, as the import does, into records and the problem, if any. */
async function read(...pieces: (string | Buffer)[]) {
  const structure: CsvStructure = {};
  const records: string[][] = [];
  // A pause after each piece, as between packets: the reader takes each piece before the next.
  async function* upload() {
    for (const piece of pieces) {
      yield Buffer.from(piece);
      await setTimeout(5);
    }
  }
  const lines = Readable.from(upload()).pipe(new WholeLines(1024 * 1024, () => undefined));
  for await (const batch of csvRecordBatches(lines, structure)) records.push(...batch);
  return { records, problem: structure.problem };
}

describe('CSV records', () => {
  it('drops a byte-order mark, reads CRLF lines, and gives a blank line as one empty cell', async () => {
    expect(await read('\uFEFFa,b\r\n\r\n"x, y",张三\r\n')).toEqual({ records: [['a', 'b'], [''], ['x, y', '张三']], problem: undefined });
  });

  it('reads quotes written twice and line breaks inside quoted cells, also across chunks', async () => {
    const { records, problem } = await read('a,"say ""hi""\n', 'and bye",c\n', 'd,e');
    expect(problem).toBeUndefined();
    expect(records).toEqual([
      ['a', 'say "hi"\nand bye', 'c'],
      ['d', 'e'],
    ]);
  });

  it('reads a CR LF split between two pieces of the upload as one line break', async () => {
    expect(await read('h1,h2\r\na,"b"\r', '\nc,d\r\n')).toEqual({ records: [['h1', 'h2'], ['a', 'b'], ['c', 'd']], problem: undefined });
    // The first line break decides what ends a record, also when its LF comes later.
    expect(await read('h1,h2\r', '\n"food",x\r\n"a, b",c\r\n')).toEqual({
      records: [['h1', 'h2'], ['food', 'x'], ['a, b', 'c']],
      problem: undefined,
    });
    expect((await read('a,b\rc,"d"\r', 'e,f\r')).records).toEqual([['a', 'b'], ['c', 'd'], ['e', 'f']]);
  });

  it('reads a character whose UTF-8 bytes are split between two pieces of the upload', async () => {
    const bytes = Buffer.from('a,张三\nb,c\n');
    expect((await read(bytes.subarray(0, 4), bytes.subarray(4))).records).toEqual([['a', '张三'], ['b', 'c']]);
  });

  it('takes a quote inside an unquoted cell as an ordinary character', async () => {
    expect((await read('ab"c,d\n')).records).toEqual([['ab"c', 'd']]);
  });

  it('stops before a cell that goes on after its closing quote, keeping the records before it', async () => {
    const { records, problem } = await read('a,b\n"x"y,z\nc,d\n');
    expect(records).toEqual([['a', 'b']]);
    expect(problem).toMatch(/goes on after its closing quote/);
  });

  it('stops at a quote never closed: at the end of the file, or once the record outgrows any licence row', async () => {
    const atEnd = await read('a,b\n"open,c\n', 'd,e\n');
    expect(atEnd.records).toEqual([['a', 'b']]);
    expect(atEnd.problem).toMatch(/never closed/);

    const piece = 'food,JY-1,张三,individual\n'.repeat(100);
    const pieces = Array.from({ length: Math.ceil(MAX_RECORD_BYTES / Buffer.byteLength(piece)) + 1 }, () => piece);
    const growing = await read('a,b\n', '"open,c\n', ...pieces, 'never,read\n');
    expect(growing.records).toEqual([['a', 'b']]);
    expect(growing.problem).toMatch(new RegExp(`longer than ${MAX_RECORD_BYTES} bytes.*never closed`));
  });
});
