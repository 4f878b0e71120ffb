import { addDays, localDate } from '@lr/domain';
import {
  eventually,
  fakePushGateway,
  fakeTwilio,
  freePort,
  freshDatabase,
  freshQueuePrefix,
  providerEnv,
  signedStatusCallback,
  startService,
  TEST_PII_KEY,
  TEST_TWILIO,
  type FakePushGateway,
  type FakeTwilio,
  type ServiceProcess,
  type TestDatabase,
  type TestRedis,
} from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The whole path with the four real services as processes, real PostgreSQL and Redis,
 * the real twilio package talking to a fake Twilio, and a fake push gateway.
 */
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
// Today: the messages' renewal links work until 90 days after the expiry date they name.
const AS_OF = localDate('Asia/Shanghai');
const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';

let database: TestDatabase;
let redis: TestRedis;
let smsFake: FakeTwilio;
let gateway: FakePushGateway;
let services: ServiceProcess[] = [];
let api: string;

interface Reminder {
  leadDays: number;
  status: string;
  deliveries: { channel: 'sms' | 'push'; status: string; providerMessageId: string | null }[];
}

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown) {
  const response = await fetch(api + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

const reminders = async (licenseNo: string) => (await call<{ items: Reminder[] }>('GET', `/v1/reminders?licenseNo=${licenseNo}`)).body.items;

beforeAll(async () => {
  [database, redis, smsFake, gateway] = await Promise.all([freshDatabase(), freshQueuePrefix(), fakeTwilio(), fakePushGateway()]);
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    PORT: String(port),
    ADMIN_API_KEY: ADMIN_KEY,
    INBOX_JWT_SECRET: 'e2e-inbox-secret-0123456789abcdef0123',
    PII_KEY: TEST_PII_KEY,
    QUIET_HOURS: 'off',
    SCAN_CRON: '0 0 1 1 *',
    ...providerEnv({ twilio: smsFake, gateway: { url: `${gateway.url}/push` }, publicBaseUrl: PUBLIC_BASE_URL }),
    LOG_LEVEL: 'info',
  };
  services = (['api', 'scheduler', 'sms-worker', 'push-worker'] as const).map((name) => startService(name, env));
  await eventually(() => fetch(`${api}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 30_000, 'the API to be ready');
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await Promise.all([smsFake?.close(), gateway?.close()]);
  await redis?.cleanup();
  await database?.drop();
});

describe('a licence due in 30 days, end to end', () => {
  it('reaches its holder by one SMS and one signed push, once, and the receipt marks it delivered', async () => {
    const category = await call('POST', '/v1/categories', {
      code: 'food-business',
      name: '食品经营许可证',
      channels: ['sms', 'push'],
      smsTemplate: '【卢氏县政务服务】{holderName}：您的{licenseName}（{licenseNo}）将于{expiresOn}到期，剩{daysLeft}天，请登录{renewalUrl}办理，咨询{consultPhone}',
      pushTitle: '{licenseName}即将到期',
      pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期',
      renewalUrl: 'https://www.hnzwfw.gov.cn/renew/food',
      consultPhone: '0398-7861234',
    });
    expect(category.status).toBe(201);

    const expiresOn = addDays(AS_OF, 30);
    const batch = await call('POST', '/v1/licenses/batch', {
      licenses: [
        {
          categoryCode: 'food-business',
          licenseNo: 'JY14112240012345',
          holderName: '卢氏县好味餐饮有限公司',
          holderType: 'enterprise',
          holderIdNo: '91350100M000100Y43',
          phone: '138 0013 8000',
          platformUserId: 'hn-app-10086',
          regionCode: '411224',
          validFrom: '2021-04-01',
          expiresOn,
        },
      ],
    });
    expect(batch).toEqual({ status: 200, body: { created: 1, updated: 0, renewed: 0, unchanged: 0 } });

    const scan = await call('POST', '/v1/scans', { asOf: AS_OF });
    expect(scan.status).toBe(200);
    expect(scan.body).toMatchObject({ asOf: AS_OF, status: 'succeeded', remindersCreated: 1, messagesQueued: 2, undeliverable: 0 });

    const [sms] = await eventually(() => (smsFake.sms().length > 0 ? smsFake.sms() : undefined), 20_000, 'the SMS');
    const [push] = await eventually(() => (gateway.pushes().length > 0 ? gateway.pushes() : undefined), 20_000, 'the push');
    expect(sms).toMatchObject({ to: '+8613800138000', from: TEST_TWILIO.from, statusCallback: `${PUBLIC_BASE_URL}/webhooks/twilio/status` });
    for (const part of ['JY14112240012345', expiresOn, 'https://www.hnzwfw.gov.cn/renew/food', '0398-7861234', '剩30天']) {
      expect(sms!.body).toContain(part);
    }
    expect(push).toMatchObject({
      userId: 'hn-app-10086',
      title: '食品经营许可证即将到期',
      signatureValid: true,
    });
    expect(push!.idempotencyKey).toMatch(/^push-\d+$/);
    // The push opens the message's personal renewal link, which the API sends on to the renewal.
    expect(push!.url).toMatch(new RegExp(`^${PUBLIC_BASE_URL}/r/[A-Za-z0-9_-]{16}$`));
    const opened = await fetch(`${api}${new URL(push!.url).pathname}`, { redirect: 'manual' });
    expect(opened.status).toBe(302);
    expect(opened.headers.get('location')).toBe('https://www.hnzwfw.gov.cn/renew/food');

    const sent = await eventually(async () => {
      const [reminder] = await reminders('JY14112240012345');
      return reminder?.deliveries.every((d) => d.status === 'sent') ? reminder : undefined;
    }, 10_000, 'both deliveries to be recorded as sent');
    expect(sent).toMatchObject({ leadDays: 30, asOf: AS_OF, expiresOn, status: 'sent', outcome: 'open' });
    expect(sent.deliveries.find((d) => d.channel === 'sms')?.providerMessageId).toBe(sms!.sid);

    // Twilio's receipt, signed as Twilio signs it, moves the SMS to delivered.
    const callback = signedStatusCallback(`${PUBLIC_BASE_URL}/webhooks/twilio/status`, {
      MessageSid: sms!.sid,
      MessageStatus: 'delivered',
      AccountSid: TEST_TWILIO.accountSid,
    });
    const receipt = await fetch(`${api}/webhooks/twilio/status`, { method: 'POST', ...callback });
    expect(receipt.status).toBe(204);
    const [after] = await reminders('JY14112240012345');
    expect(after?.deliveries.find((d) => d.channel === 'sms')).toMatchObject({ status: 'delivered' });

    // The same scan again creates nothing and sends nothing more.
    const again = await call('POST', '/v1/scans', { asOf: AS_OF });
    expect(again.body).toMatchObject({ status: 'succeeded', remindersCreated: 0, messagesQueued: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(smsFake.sms()).toHaveLength(1);
    expect(gateway.pushes()).toHaveLength(1);
  });

  it('stops every service cleanly on SIGTERM', async () => {
    const codes = await Promise.all(services.map((s) => s.stop('SIGTERM')));
    expect(codes, services.map((s) => `${s.name}: ${s.output().slice(-500)}`).join('\n')).toEqual([0, 0, 0, 0]);
    for (const service of services) expect(service.output()).toContain('"msg":"stopped"');
  });

  it('never logs a phone number unmasked', () => {
    const logs = services.map((s) => s.output()).join('\n');
    expect(logs).toContain('138****8000');
    expect(logs).not.toMatch(/13800138000/);
  });
});
