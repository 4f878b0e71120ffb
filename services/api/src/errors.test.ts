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

describe('a store that is away, or a statement that ran too long', () => {
  async function answerTo(error: Error) {
    const logger: FastifyBaseLogger = createLogger('api', 'silent');
    const app = Fastify({ loggerInstance: logger });
    installErrorHandling(app);
    app.get('/fails', async () => {
      throw error;
    });
    const res = await app.inject({ method: 'GET', url: '/fails' });
    await app.close();
    return res;
  }

  it('answers 503 unavailable with Retry-After when PostgreSQL refuses the connection', async () => {
    const res = await answerTo(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toEqual({ error: { code: 'unavailable', message: 'PostgreSQL is unavailable; try again shortly' } });
  });

  it('says that a statement PostgreSQL cancelled for its time limit ran too long, not that PostgreSQL is away', async () => {
    const res = await answerTo(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }));
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('unavailable');
    expect(res.json().error.message).toMatch(/time limit/);
    expect(res.json().error.message).not.toMatch(/is unavailable/);
    // Not an invitation to send the same request again in 5 s.
    expect(res.headers['retry-after']).toBeUndefined();
  });
});
