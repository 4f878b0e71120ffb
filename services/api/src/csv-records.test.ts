import { describe, expect, it } from 'vitest';
import { csvRecordBatches, MAX_RECORD_BYTES, type CsvStructure } from './csv-records';

/** Reads `chunks` (as the upload would arrive, in whole lines) into records and the problem, if any. */
async function read(...chunks: string[]) {
  const structure: CsvStructure = {};
  const records: string[][] = [];
  async function* upload() {
    for (const chunk of chunks) yield Buffer.from(chunk);
  }
  for await (const batch of csvRecordBatches(upload(), structure)) records.push(...batch);
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

    const row = 'food,JY-1,张三,individual\n';
    const rows = Array.from({ length: Math.ceil(MAX_RECORD_BYTES / row.length) + 1 }, () => row);
    const growing = await read('a,b\n', '"open,c\n', ...rows, 'never,read\n');
    expect(growing.records).toEqual([['a', 'b']]);
    expect(growing.problem).toMatch(new RegExp(`longer than ${MAX_RECORD_BYTES} bytes.*never closed`));
  });
});
