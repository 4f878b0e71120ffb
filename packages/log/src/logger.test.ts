import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger('test', 'info', stream) };
}

describe('logger', () => {
  it('writes one JSON line per event with phones and id numbers masked', () => {
    const { lines, logger } = capture();
    logger.info({ phone: '+8613800138000', license: { holderIdNo: '41010219900101123X' } }, 'sms to 13912345678');
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    const record = JSON.parse(line);
    expect(record.phone).toBe('138****8000');
    expect(record.license.holderIdNo).toBe('410***********123X');
    expect(record.msg).toBe('sms to 139****5678');
    expect(line).not.toMatch(/13800138000|41010219900101123X|13912345678/);
  });

  it('masks personal data inside logged errors', () => {
    const { lines, logger } = capture();
    logger.error({ err: new Error('invalid number +8613800138000') }, 'send failed');
    expect(lines[0]).not.toContain('13800138000');
    expect(JSON.parse(lines[0]!).err.message).toBe('invalid number 138****8000');
  });
});
