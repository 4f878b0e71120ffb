import { ROW_FIELD } from '@lr/domain';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LicenseCsvHeaderError, readLicenseCsv, type LicenseCsvRow } from './license-csv';

const HEADER = 'categoryCode,licenseNo,holderName,holderType,holderIdNo,phone,platformUserId,regionCode,validFrom,expiresOn,status';

/** Reads a whole upload: every row, and how the reading ended. */
async function read(text: string) {
  const reading = readLicenseCsv(Readable.from([Buffer.from(text)]));
  const rows: LicenseCsvRow[] = [];
  try {
    for await (const batch of reading.batches()) rows.push(...batch);
  } finally {
    reading.close();
  }
  return { rows, end: reading.end() };
}

describe('the licence CSV reader', () => {
  it('gives each data row its non-empty cells by column and the line it starts on; blank lines count as lines and are skipped', async () => {
    const text = [HEADER, 'food,JY-1,"张三\n李四",individual,110101199003071234,,,110101,2024-01-01,2027-01-01,active', '', ',,,,,,,,,,', 'food,JY-2,王五,individual,x,,,r,a,b,c', ''].join('\n');
    const { rows, end } = await read(text);
    expect(rows).toEqual([
      {
        line: 2,
        fields: {
          categoryCode: 'food',
          licenseNo: 'JY-1',
          holderName: '张三\n李四',
          holderType: 'individual',
          holderIdNo: '110101199003071234',
          regionCode: '110101',
          validFrom: '2024-01-01',
          expiresOn: '2027-01-01',
          status: 'active',
        },
      },
      {
        line: 6,
        fields: { categoryCode: 'food', licenseNo: 'JY-2', holderName: '王五', holderType: 'individual', holderIdNo: 'x', regionCode: 'r', validFrom: 'a', expiresOn: 'b', status: 'c' },
      },
    ]);
    expect(end).toEqual({ rows: 2 });
  });

  it('refuses a row with more or fewer cells than the header, and one with a cell that is not UTF-8, with its line', async () => {
    const notUtf8 = Buffer.concat([Buffer.from(`${HEADER}\nfood,JY-1,a,b\nfood,JY-2,`), Buffer.from([0xff, 0xfe]), Buffer.from(',individual,x,,,r,a,b,c\n')]);
    const reading = readLicenseCsv(Readable.from([notUtf8]));
    const rows: LicenseCsvRow[] = [];
    for await (const batch of reading.batches()) rows.push(...batch);
    reading.close();
    expect(rows).toEqual([
      { line: 2, refused: { field: ROW_FIELD, message: 'has 4 cells; the header has 11' } },
      { line: 3, refused: { field: 'holderName', message: 'is not UTF-8 text; save the file as "CSV UTF-8"' } },
    ]);
    expect(reading.end()).toEqual({ rows: 2 });
  });

  it('refuses a header with unknown, repeated or missing columns before reading any row', async () => {
    const error = await read('categoryCode,licenseNo,licenseNo,colour\nfood,JY-1,JY-1,red\n').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LicenseCsvHeaderError);
    expect((error as LicenseCsvHeaderError).details).toEqual([
      { field: 'licenseNo', message: 'column appears twice' },
      { field: 'colour', message: 'unknown column' },
      { field: 'holderName', message: 'required column is missing' },
      { field: 'holderType', message: 'required column is missing' },
      { field: 'holderIdNo', message: 'required column is missing' },
      { field: 'regionCode', message: 'required column is missing' },
      { field: 'validFrom', message: 'required column is missing' },
      { field: 'expiresOn', message: 'required column is missing' },
    ]);
  });

  it('ends at a broken CSV structure, naming its line, after the rows before it', async () => {
    const { rows, end } = await read(`${HEADER}\nfood,JY-1,a,b,c,,,r,v,e,s\nfood,"JY-2,a,b,c,,,r,v,e,s\nfood,JY-3,a,b,c,,,r,v,e,s\n`);
    expect(rows.map((r) => r.line)).toEqual([2]);
    expect(end).toEqual({ rows: 1, broken: { line: 3, reason: 'a cell starting here opens with a quote (") that is never closed' } });
  });
});
