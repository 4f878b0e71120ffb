import { createLogger } from '@lr/log';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { installErrorHandling } from './errors';

describe("a 500's log line", () => {
  it("keeps PostgreSQL's row out: no detail, where or parameters, and the answer says nothing of it", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger: FastifyBaseLogger = createLogger('api', 'info', stream, 'json');
    const app = Fastify({ loggerInstance: logger });
    installErrorHandling(app);
    // What pg throws when a write breaks a constraint: the row's values ride in `detail` and `where`.
    app.get('/fails', async () => {
      throw Object.assign(new Error('new row for relation "licenses" violates check constraint "licenses_phone_check"'), {
        code: '23514',
        severity: 'ERROR',
        detail: 'Failing row contains (7, food, JY1, 张三丰, individual, +8613812345678, 411224).',
        where: "SQL statement \"update licenses set holder_name = '张三丰'\"",
        parameters: ['张三丰', '+8613812345678'],
        table: 'licenses',
        constraint: 'licenses_phone_check',
      });
    });
    const res = await app.inject({ method: 'GET', url: '/fails' });
    await app.close();
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'internal', message: 'internal error; see the server log' } });
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; err: unknown }).find((l) => l.msg === 'request failed');
    expect(logged?.err).toMatchObject({ code: '23514', table: 'licenses', constraint: 'licenses_phone_check' });
    expect(lines.join('')).not.toMatch(/张三丰|Failing row|12345678/);
  });
});
