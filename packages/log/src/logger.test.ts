import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LogFormat } from './logger';

function capture(options: { terminal?: boolean; format?: LogFormat } = {}) {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  // What Node's tty.WriteStream says of itself when stdout is a terminal.
  if (options.terminal) Object.assign(stream, { isTTY: true });
  return { lines, logger: createLogger('test', 'info', stream, options.format) };
}

/** The text without terminal colours. */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
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

  it('writes readable lines to a terminal, masked the same way', () => {
    const { lines, logger } = capture({ terminal: true });
    logger.info({ phone: '+8613800138000', license: { holderIdNo: '41010219900101123X' } }, 'sms to 13912345678');
    logger.warn({ err: new Error('invalid number +8613800138000') }, 'send failed');
    expect(lines).toHaveLength(2);
    const [info, warn] = lines.map(plain) as [string, string];
    expect(() => void JSON.parse(info)).toThrow();
    expect(info).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO \(test\): sms to 139\*\*\*\*5678 /);
    expect(info).toContain('"phone":"138****8000"');
    expect(info).toContain('"holderIdNo":"410***********123X"');
    expect(info.trimEnd().split('\n')).toHaveLength(1);
    expect(warn).toMatch(/WARN \(test\): send failed/);
    expect(warn).toContain('invalid number 138****8000');
    expect(lines.join('')).not.toMatch(/13800138000|41010219900101123X|13912345678/);
  });

  it('stays JSON where the output is not a terminal', () => {
    const { lines, logger } = capture({ terminal: false });
    logger.info('started');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, service: 'test', msg: 'started' });
  });

  it('writes what LOG_FORMAT asks for, terminal or not', () => {
    const json = capture({ terminal: true, format: 'json' });
    json.logger.info({ phone: '+8613800138000' }, 'started');
    expect(JSON.parse(json.lines[0]!)).toMatchObject({ msg: 'started', phone: '138****8000' });
    const pretty = capture({ terminal: false, format: 'pretty' });
    pretty.logger.info({ phone: '+8613800138000' }, 'started');
    expect(plain(pretty.lines[0]!)).toMatch(/INFO \(test\): started .*"phone":"138\*\*\*\*8000"/);
  });
});

describe('masking the places a phone hides in a log line', () => {
  function logged(fields: object, message = 'event'): string {
    const { lines, logger } = capture({ format: 'json' });
    logger.info(fields, message);
    return lines.join('');
  }

  it('masks a phone right after a JSON escape (a new line, a tab, a control character)', () => {
    for (const text of ['\n13812345678', 'line one\r\n13812345678', '\t+8613812345678', 'x\u001f13812345678', 'id\n41010219900101123X']) {
      const line = logged({ text });
      expect(line, JSON.stringify(text)).not.toMatch(/12345678|19900101/);
      expect(line).toMatch(/138\*{4}5678|410\*{11}123X/);
    }
  });

  it('masks a phone whose digits are percent-encoded in a path or query', () => {
    const urls = [
      '/v1/suppressions/%31%33%38%31%32%33%34%35%36%37%38',
      '/v1/suppressions/%2B%38%36%31%33%38%31%32%33%34%35%36%37%38',
      '/v1/suppressions/%2B86%31%33%38%31%32%33%34%35%36%37%38?x=1',
      '/v1/suppressions/138%31%32%33%34%35%36%37%38',
    ];
    for (const url of urls) {
      const line = logged({ req: { url } });
      expect(JSON.parse(line).req.url, url).toMatch(/^\/v1\/suppressions\/138\*{4}5678(\?x=1)?$/);
    }
  });

  it('masks a phone written with dots, brackets or other separators after +86', () => {
    const phones = ['+86.13812345678', '+86.138.1234.5678', '138.1234.5678', '(+86)13812345678', '+86 (138) 1234 5678', '+86-138-1234-5678', '0086 138 1234 5678', '+86\u00a0138\u00a01234\u00a05678'];
    for (const phone of phones) {
      const line = logged({}, `sms to ${phone} failed`);
      // A bracket before the +86 is not the phone's: it may stay.
      expect(JSON.parse(line).msg, phone).toMatch(/^sms to \(?138\*{4}5678 failed$/);
    }
  });

  it('still leaves addresses, versions and provider ids alone', () => {
    const text = 'from 192.168.1.20 and 10.0.13.81, node 22.13.1, sid SM13812345678ab, BizId 1381234567^0, 2026-12-02T13:31:06.697Z';
    expect(JSON.parse(logged({}, text)).msg).toBe(text);
  });
});

describe("a database error's row in the log", () => {
  /** What pg throws: the row's values ride in `detail`, `where` and (some drivers) `parameters`. */
  function databaseError(): Error {
    return Object.assign(new Error('duplicate key value violates unique constraint "licenses_phone_key"'), {
      code: '23505',
      severity: 'ERROR',
      detail: 'Failing row contains (7, food, JY1, 张三丰, individual, +8613812345678, 411224).',
      where: "SQL statement \"insert into licenses values ('张三丰', '13812345678')\"\nPL/pgSQL function f() line 3",
      parameters: ['张三丰', '13812345678'],
      table: 'licenses',
      constraint: 'licenses_phone_key',
    });
  }

  it("keeps the error's code, table and constraint, and drops detail, where and parameters", () => {
    const { lines, logger } = capture({ format: 'json' });
    logger.error({ err: databaseError() }, 'request failed');
    const { err } = JSON.parse(lines[0]!);
    expect(err).toMatchObject({ message: 'duplicate key value violates unique constraint "licenses_phone_key"', code: '23505', table: 'licenses', constraint: 'licenses_phone_key' });
    expect(err).not.toHaveProperty('detail');
    expect(err).not.toHaveProperty('where');
    expect(err).not.toHaveProperty('parameters');
    expect(lines[0]).not.toMatch(/张三丰|12345678/);
  });

  it('drops them from errors inside others: aggregated, or a cause', () => {
    const { lines, logger } = capture({ format: 'json' });
    logger.error({ err: new AggregateError([databaseError()], 'both statements failed') }, 'request failed');
    logger.error({ err: new Error('could not store the licences', { cause: databaseError() }) }, 'request failed');
    expect(JSON.parse(lines[0]!).err.aggregateErrors[0]).toMatchObject({ code: '23505', constraint: 'licenses_phone_key' });
    expect(lines[1]).toContain('could not store the licences');
    expect(lines.join('')).not.toMatch(/张三丰|12345678/);
  });
});
