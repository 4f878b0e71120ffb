import { createLogger } from '@lr/log';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { logSender } from './log';

describe('the log SMS provider', () => {
  it("writes the masked phone, the message's id and length, never its text: it names the holder", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const body = '【卢氏县政务服务】张三丰您好，您的食品经营许可证（编号JY14112240001）将于2026-04-01到期，还有30天。咨询0398-7856315。';
    const { providerMessageId } = await logSender(createLogger('sms-worker', 'info', stream, 'json')).send('+8613812345678', body, { messageId: 1 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'sms (log provider)', to: '138****5678', providerMessageId, characters: body.length, segments: 2 });
    expect(lines[0]).not.toContain('张三丰');
    expect(lines[0]).not.toContain('JY14112240001');
  });
});
