/**
 * /metrics answers a bearer of METRICS_TOKEN or of any API key, and a scrape never waits for
 * PostgreSQL: the one figure read from it (open follow-ups) is refreshed in the background.
 */
import { createApiKey } from '@lr/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, expectError, startTestApp, type TestApp } from './harness';

const METRICS_TOKEN = 'prometheus-scrape-token-0123456789';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ METRICS_TOKEN });
});
afterAll(() => t.close());

const scrape = (headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: '/metrics', headers });

describe('who may scrape', () => {
  it('refuses a scrape without a bearer, or with one nobody issued, with 401', async () => {
    expectError(await scrape(), 401, 'unauthorized');
    expectError(await scrape(auth('not-the-metrics-token-0123456789')), 401, 'unauthorized');
  });

  it('answers the metrics token and any API key, whatever its role', async () => {
    const viewer = (await createApiKey(t.database.db, 'grafana', 'viewer')).key;
    for (const headers of [auth(METRICS_TOKEN), auth(viewer), admin]) {
      const res = await scrape(headers);
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/^# TYPE lr_follow_ups_open gauge$/m);
    }
  });

  it('opens nothing else with the metrics token', async () => {
    expectError(await t.app.inject({ method: 'GET', url: '/v1/categories', headers: auth(METRICS_TOKEN) }), 401, 'unauthorized');
  });
});

describe('what a scrape costs the database', () => {
  let locker: pg.Client;
  beforeAll(async () => {
    locker = new pg.Client({ connectionString: t.database.url });
    await locker.connect();
    return () => locker.end();
  });

  it('answers from figures kept in memory while every table it counts is locked', async () => {
    expect((await scrape(auth(METRICS_TOKEN))).statusCode).toBe(200);
    await locker.query('begin');
    try {
      // api_keys too: the metrics token is checked in memory, by the rate limit as by the route.
      await locker.query('lock table follow_ups, deliveries, reminders, licenses, api_keys in access exclusive mode');
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const res = await Promise.race([
          scrape(auth(METRICS_TOKEN)),
          new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('the scrape waited for PostgreSQL')), 2000)),
        ]);
        expect(res.statusCode).toBe(200);
        expect(res.body).toMatch(/^lr_follow_ups_open\{reason="unreached"\} 0$/m);
        expect(performance.now() - started).toBeLessThan(2000);
      }
    } finally {
      await locker.query('rollback');
    }
  });
});
