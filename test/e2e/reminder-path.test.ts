import { addDays, localDate, nextLocalMidnight } from '@lr/domain';
import { openMessageQueues, redisConnection } from '@lr/jobs';
import {
  eventually,
  fakeAliyun,
  fakePushGateway,
  fakeTwilio,
  freePort,
  freshDatabase,
  freshQueuePrefix,
  providerEnv,
  signedStatusCallback,
  startService,
  TEST_ALIYUN,
  TEST_ALIYUN_REPORT_TOKEN,
  TEST_PII_KEY,
  TEST_TWILIO,
  type FakeAliyun,
  type FakePushGateway,
  type ServiceProcess,
  type TestDatabase,
  type TestRedis,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The whole path with the four real services as processes, real PostgreSQL and Redis, a
 * fake push gateway, and SMS through either provider: the real twilio package talking to a
 * fake Twilio, or Alibaba Cloud's official SDK talking to a fake Alibaba Cloud that checks
 * each request's signature (SMS_PROVIDER=aliyun, issue 15).
 */
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
// Today: the messages' renewal links work until 90 days after the expiry date they name.
const AS_OF = localDate('Asia/Shanghai');
const PUBLIC_BASE_URL = 'https://reminders.example.gov.cn';
const RENEWAL_URL = 'https://www.hnzwfw.gov.cn/renew/food';
const CONSULT_PHONE = '0398-7861234';

interface Reminder {
  leadDays: number;
  status: string;
  deliveries: { channel: 'sms' | 'push'; status: string; providerMessageId: string | null; errorCode?: string | null; errorMessage?: string | null }[];
}

/** An SMS a fake provider took: the phone (+86…) and the id the provider gave. */
interface TakenSms {
  to: string;
  providerId: string;
}

/** One SMS provider behind its fake, as the end-to-end path sees it. */
interface SmsProvider {
  /** the services' settings that send through the fake */
  env: NodeJS.ProcessEnv;
  /** the category's fields this provider needs besides the common ones */
  categoryFields: Record<string, unknown>;
  /** the SMS the fake took, in order */
  sent(): TakenSms[];
  /** checks that the SMS carries the licence's facts as this provider sends them; its renewal token if it carries one */
  expectReminder(sms: TakenSms, facts: { licenseNo: string; expiresOn: string }): string | undefined;
  /** the provider's receipt that the SMS was delivered, sent to the API as the provider sends it */
  pushDelivered(api: string, sms: TakenSms): Promise<void>;
  close(): Promise<void>;
}

async function twilioProvider(): Promise<SmsProvider> {
  const fake = await fakeTwilio();
  const statusCallback = `${PUBLIC_BASE_URL}/webhooks/twilio/status`;
  return {
    env: providerEnv({ twilio: fake, publicBaseUrl: PUBLIC_BASE_URL }),
    categoryFields: {},
    sent: () => fake.sms().map((s) => ({ to: s.to, providerId: s.sid })),
    expectReminder(sms, { licenseNo, expiresOn }) {
      const taken = fake.sms().find((s) => s.sid === sms.providerId)!;
      expect(taken).toMatchObject({ from: TEST_TWILIO.from, statusCallback });
      for (const part of [licenseNo, expiresOn, RENEWAL_URL, CONSULT_PHONE, '剩30天']) expect(taken.body).toContain(part);
      return undefined;
    },
    async pushDelivered(api, sms) {
      // Signed as Twilio signs it.
      const callback = signedStatusCallback(statusCallback, { MessageSid: sms.providerId, MessageStatus: 'delivered', AccountSid: TEST_TWILIO.accountSid });
      const receipt = await fetch(`${api}/webhooks/twilio/status`, { method: 'POST', ...callback });
      expect(receipt.status).toBe(204);
    },
    close: () => fake.close(),
  };
}

/** The category's approved template at the fake Alibaba Cloud, and our templates for its variables. */
const ALIYUN_TEMPLATE = {
  aliyunTemplateCode: 'SMS_100000001',
  aliyunTemplateParams: { name: '{licenseName}', no: '{licenseNo}', date: '{expiresOn}', token: '{renewalToken}', tel: '{consultPhone}' },
};

async function aliyunProvider(): Promise<SmsProvider & { fake: FakeAliyun }> {
  const fake = await fakeAliyun();
  return {
    fake,
    // The shortest wait the configuration allows before an SMS without a receipt is looked up;
    // the test ages the SMS rather than wait the minute.
    env: { ...providerEnv({ aliyun: fake, publicBaseUrl: PUBLIC_BASE_URL }), ALIYUN_SMS_RECONCILE_MINUTES: '1' },
    categoryFields: ALIYUN_TEMPLATE,
    sent: () => fake.sms().map((s) => ({ to: `+86${s.phone}`, providerId: s.bizId })),
    expectReminder(sms, { licenseNo, expiresOn }) {
      const taken = fake.sms().find((s) => s.bizId === sms.providerId)!;
      // The fake took it: the SDK's ACS3-HMAC-SHA256 signature checked out with the secret.
      expect(taken).toMatchObject({
        signName: TEST_ALIYUN.signName,
        templateCode: ALIYUN_TEMPLATE.aliyunTemplateCode,
        templateParam: { name: '食品经营许可证', no: licenseNo, date: expiresOn, tel: CONSULT_PHONE, token: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) },
      });
      expect(taken.outId).toMatch(/^\d+$/);
      return taken.templateParam.token;
    },
    async pushDelivered(api, sms) {
      const taken = fake.sms().find((s) => s.bizId === sms.providerId)!;
      // Alibaba Cloud's SmsReport push: a JSON array, to the URL whose last segment is the token.
      const report = {
        phone_number: taken.phone,
        send_time: '2026-03-01 10:00:00',
        report_time: '2026-03-01 10:00:05',
        success: true,
        err_code: 'DELIVERED',
        err_msg: '用户接收成功',
        sms_size: '1',
        biz_id: taken.bizId,
        out_id: taken.outId,
      };
      const post = (token: string) =>
        fetch(`${api}/webhooks/aliyun/sms-report/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([report]) });
      expect((await post('not-the-report-token-0123456789')).status).toBe(403);
      const receipt = await post(TEST_ALIYUN_REPORT_TOKEN);
      expect(receipt.status).toBe(200);
      expect(await receipt.json()).toEqual({ code: 0, msg: '接收成功' });
    },
    close: () => fake.close(),
  };
}

describe.each(['twilio', 'aliyun'] as const)('a licence due in 30 days, end to end, SMS through %s', (providerName) => {
  let database: TestDatabase;
  let redis: TestRedis;
  let provider: SmsProvider;
  let gateway: FakePushGateway;
  let services: ServiceProcess[] = [];
  let api: string;

  async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown) {
    const response = await fetch(api + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  const reminders = async (licenseNo: string) => (await call<{ items: Reminder[] }>('GET', `/v1/reminders?licenseNo=${licenseNo}`)).body.items;
  const smsOf = async (licenseNo: string) => (await reminders(licenseNo))[0]?.deliveries.find((d) => d.channel === 'sms');

  /** A licence of the category, due in 30 days, to this phone and app account. */
  const licence = (licenseNo: string, phone: string, platformUserId: string, holderName = '卢氏县好味餐饮有限公司') => ({
    categoryCode: 'food-business',
    licenseNo,
    holderName,
    holderType: 'enterprise',
    holderIdNo: '91350100M000100Y43',
    phone,
    platformUserId,
    regionCode: '411224',
    validFrom: '2021-04-01',
    expiresOn: addDays(AS_OF, 30),
  });

  beforeAll(async () => {
    [database, redis, provider, gateway] = await Promise.all([
      freshDatabase(),
      freshQueuePrefix(),
      providerName === 'twilio' ? twilioProvider() : aliyunProvider(),
      fakePushGateway(),
    ]);
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
      // One SMS a phone a day: the second licence of a phone shows the cap holding.
      SMS_MAX_PER_RECIPIENT_PER_DAY: '1',
      // The scheduler's upkeep (and with aliyun, its look-up of SMS without a receipt) every second.
      SWEEP_INTERVAL_SECONDS: '1',
      ...provider.env,
      ...providerEnv({ gateway: { url: `${gateway.url}/push` }, publicBaseUrl: PUBLIC_BASE_URL }),
      LOG_LEVEL: 'info',
    };
    services = (['api', 'scheduler', 'sms-worker', 'push-worker'] as const).map((name) => startService(name, env));
    await eventually(() => fetch(`${api}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 30_000, 'the API to be ready');
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all([provider?.close(), gateway?.close()]);
    await redis?.cleanup();
    await database?.drop();
  });

  it('reaches its holder by one SMS and one signed push, once, and the receipt marks it delivered', async () => {
    const category = await call('POST', '/v1/categories', {
      code: 'food-business',
      name: '食品经营许可证',
      channels: ['sms', 'push'],
      smsTemplate: '【卢氏县政务服务】{holderName}：您的{licenseName}（{licenseNo}）将于{expiresOn}到期，剩{daysLeft}天，请登录{renewalUrl}办理，咨询{consultPhone}',
      pushTitle: '{licenseName}即将到期',
      pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期',
      renewalUrl: RENEWAL_URL,
      consultPhone: CONSULT_PHONE,
      ...provider.categoryFields,
    });
    expect(category.status).toBe(201);

    const expiresOn = addDays(AS_OF, 30);
    const batch = await call('POST', '/v1/licenses/batch', { licenses: [licence('JY14112240012345', '138 0013 8000', 'hn-app-10086')] });
    expect(batch).toEqual({ status: 200, body: { created: 1, updated: 0, renewed: 0, unchanged: 0 } });

    const scan = await call('POST', '/v1/scans', { asOf: AS_OF });
    expect(scan.status).toBe(200);
    expect(scan.body).toMatchObject({ asOf: AS_OF, status: 'succeeded', remindersCreated: 1, messagesQueued: 2, undeliverable: 0 });

    const [sms] = await eventually(() => (provider.sent().length > 0 ? provider.sent() : undefined), 20_000, 'the SMS');
    const [push] = await eventually(() => (gateway.pushes().length > 0 ? gateway.pushes() : undefined), 20_000, 'the push');
    expect(sms!.to).toBe('+8613800138000');
    const smsToken = provider.expectReminder(sms!, { licenseNo: 'JY14112240012345', expiresOn });
    expect(push).toMatchObject({
      userId: 'hn-app-10086',
      title: '食品经营许可证即将到期',
      signatureValid: true,
    });
    expect(push!.idempotencyKey).toMatch(/^push-\d+$/);
    // The push opens the message's personal renewal link, which the API sends on to the renewal;
    // so does the token an Alibaba Cloud SMS carries (its template holds the link's fixed part).
    expect(push!.url).toMatch(new RegExp(`^${PUBLIC_BASE_URL}/r/[A-Za-z0-9_-]{16}$`));
    for (const path of [new URL(push!.url).pathname, ...(smsToken ? [`/r/${smsToken}`] : [])]) {
      const opened = await fetch(`${api}${path}`, { redirect: 'manual' });
      expect(opened.status).toBe(302);
      expect(opened.headers.get('location')).toBe(RENEWAL_URL);
    }

    const sent = await eventually(async () => {
      const [reminder] = await reminders('JY14112240012345');
      return reminder?.deliveries.every((d) => d.status === 'sent') ? reminder : undefined;
    }, 10_000, 'both deliveries to be recorded as sent');
    expect(sent).toMatchObject({ leadDays: 30, asOf: AS_OF, expiresOn, status: 'sent', outcome: 'open' });
    expect(sent.deliveries.find((d) => d.channel === 'sms')?.providerMessageId).toBe(sms!.providerId);
    if (providerName === 'aliyun') {
      // OutId is the outgoing message's id.
      const { rows } = await sql<{ id: number }>`select id from outgoing_messages where provider_message_id = ${sms!.providerId}`.execute(database.db);
      expect((provider as Awaited<ReturnType<typeof aliyunProvider>>).fake.sms()[0]!.outId).toBe(String(rows[0]!.id));
    }

    // The provider's receipt moves the SMS to delivered.
    await provider.pushDelivered(api, sms!);
    expect(await smsOf('JY14112240012345')).toMatchObject({ status: 'delivered' });

    // The same scan again creates nothing and sends nothing more.
    const again = await call('POST', '/v1/scans', { asOf: AS_OF });
    expect(again.body).toMatchObject({ status: 'succeeded', remindersCreated: 0, messagesQueued: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(provider.sent()).toHaveLength(1);
    expect(gateway.pushes()).toHaveLength(1);
  });

  it('holds the daily cap: a second licence of the same phone gets its push, and its SMS waits for the next day', async () => {
    await call('POST', '/v1/licenses/batch', { licenses: [licence('JY14112240012399', '13800138000', 'hn-app-10099', '卢氏县好味第二餐饮有限公司')] });
    const scan = await call('POST', '/v1/scans', { asOf: AS_OF });
    expect(scan.body).toMatchObject({ status: 'succeeded', remindersCreated: 1, messagesQueued: 2 });
    // The push goes: the workers have taken the scan's jobs.
    await eventually(() => (gateway.pushes().length === 2 ? true : undefined), 20_000, 'the second push');
    // The SMS worker took its job and put it back, delayed to the next Shanghai midnight. The
    // scan's SMS message, whatever its state this instant (the worker may hold it).
    const { id } = await database.db
      .selectFrom('outgoingMessages')
      .select('id')
      .where('channel', '=', 'sms')
      .where('scanId', '=', (scan.body as { id: number }).id)
      .executeTakeFirstOrThrow();
    const connection = redisConnection(redis.url);
    const queues = openMessageQueues(connection, redis.prefix);
    try {
      const held = await eventually(
        async () => {
          const job = await queues.sms.getJob(`sms-${id}`);
          return job && (await job.getState()) === 'delayed' ? job : undefined;
        },
        20_000,
        'the capped SMS job delayed',
      );
      expect(Math.abs(held.timestamp + held.delay - nextLocalMidnight('Asia/Shanghai', new Date()).getTime())).toBeLessThan(5_000);
    } finally {
      await queues.close();
      await connection.quit();
    }
    expect(provider.sent()).toHaveLength(1);
    expect(await smsOf('JY14112240012399')).toMatchObject({ status: 'queued', providerMessageId: null });
  });

  it.runIf(providerName === 'aliyun')(
    'looks up an SMS left without a receipt after ALIYUN_SMS_RECONCILE_MINUTES (QuerySendDetails) and records it delivered',
    async () => {
      const { fake } = provider as Awaited<ReturnType<typeof aliyunProvider>>;
      await call('POST', '/v1/licenses/batch', { licenses: [licence('JY14112240012346', '13900139001', 'hn-app-10087', '卢氏县清风茶馆')] });
      expect((await call('POST', '/v1/scans', { asOf: AS_OF })).body).toMatchObject({ status: 'succeeded', remindersCreated: 1, messagesQueued: 2 });
      const sms = await eventually(() => provider.sent().find((s) => s.to === '+8613900139001'), 20_000, 'the SMS');
      await eventually(async () => ((await smsOf('JY14112240012346'))?.status === 'sent' ? true : undefined), 10_000, 'the SMS recorded as sent');
      // Alibaba Cloud has its receipt, but the push never reaches the API.
      fake.setStatus(sms.providerId, 3);
      // Younger than ALIYUN_SMS_RECONCILE_MINUTES, it is not looked up (upkeep runs every second).
      await new Promise((r) => setTimeout(r, 2000));
      expect(fake.lookUps()).toHaveLength(0);
      expect(await smsOf('JY14112240012346')).toMatchObject({ status: 'sent' });

      // Sent over a minute ago, in our record and at the fake alike (Alibaba Cloud files an SMS
      // under its Beijing day, which just after midnight is not the day of now): the scheduler looks it up.
      const { rows } = await sql<{ sentAt: Date }>`
        update outgoing_messages set sent_at = sent_at - interval '70 seconds' where provider_message_id = ${sms.providerId} returning sent_at`.execute(database.db);
      fake.setSentAt(sms.providerId, rows[0]!.sentAt);
      await eventually(async () => ((await smsOf('JY14112240012346'))?.status === 'delivered' ? true : undefined), 15_000, 'the SMS reconciled as delivered');
      const [lookUp] = fake.lookUps();
      expect(lookUp?.get('PhoneNumber')).toBe('13900139001');
      expect(lookUp?.get('BizId')).toBe(sms.providerId);
      // The SMS with its receipt (delivered) and the one held by the cap (queued) are not looked up.
      expect(fake.lookUps().every((q) => q.get('PhoneNumber') === '13900139001')).toBe(true);
      expect(fake.badSignatures()).toBe(0);
    },
  );

  it.runIf(providerName === 'aliyun')(
    "shows the operator what Alibaba Cloud's refusal and the carrier's code mean, on the reminder's SMS delivery (errorCode, errorMessage)",
    async () => {
      const { fake } = provider as Awaited<ReturnType<typeof aliyunProvider>>;
      // Alibaba Cloud refuses the number: the SMS fails after its one call.
      fake.setStandingFault({ code: 'isv.MOBILE_NUMBER_ILLEGAL' });
      await call('POST', '/v1/licenses/batch', { licenses: [licence('JY14112240012347', '13700137001', 'hn-app-10088', '卢氏县东风饭店')] });
      expect((await call('POST', '/v1/scans', { asOf: AS_OF })).body).toMatchObject({ status: 'succeeded', remindersCreated: 1, messagesQueued: 2 });
      const refused = await eventually(async () => {
        const sms = await smsOf('JY14112240012347');
        return sms?.status === 'failed' ? sms : undefined;
      }, 20_000, 'the refused SMS failed');
      fake.setStandingFault(null);
      expect(refused).toMatchObject({ errorCode: 'isv.MOBILE_NUMBER_ILLEGAL', providerMessageId: null });
      expect(refused.errorMessage).toMatch(/^the phone number is not a valid mainland mobile number \(/);
      expect(fake.sendCalls().filter((q) => q.get('PhoneNumbers') === '13700137001')).toHaveLength(1);

      // Taken by Alibaba Cloud, then reported undelivered by the carrier with its gateway code.
      await call('POST', '/v1/licenses/batch', { licenses: [licence('JY14112240012348', '13700137002', 'hn-app-10089', '卢氏县西风饭店')] });
      expect((await call('POST', '/v1/scans', { asOf: AS_OF })).body).toMatchObject({ status: 'succeeded', remindersCreated: 1, messagesQueued: 2 });
      const taken = await eventually(() => fake.sms().find((s) => s.phone === '13700137002'), 20_000, 'the SMS');
      await eventually(async () => ((await smsOf('JY14112240012348'))?.status === 'sent' ? true : undefined), 10_000, 'the SMS recorded as sent');
      const report = {
        phone_number: taken.phone,
        send_time: '2026-03-01 10:00:00',
        report_time: '2026-03-01 10:00:09',
        success: false,
        err_code: 'MK:0001',
        err_msg: '用户状态异常',
        sms_size: '1',
        biz_id: taken.bizId,
        out_id: taken.outId,
      };
      const pushed = await fetch(`${api}/webhooks/aliyun/sms-report/${TEST_ALIYUN_REPORT_TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([report]),
      });
      expect(pushed.status).toBe(200);
      const undelivered = await smsOf('JY14112240012348');
      expect(undelivered).toMatchObject({ status: 'undelivered', errorCode: 'MK:0001', providerMessageId: taken.bizId });
      expect(undelivered?.errorMessage).toBe('not delivered: the number is not in use, suspended, switched off or unreachable (carrier code) (Alibaba Cloud MK:0001: 用户状态异常)');
    },
  );

  it('stops every service cleanly on SIGTERM', async () => {
    const codes = await Promise.all(services.map((s) => s.stop('SIGTERM')));
    expect(codes, services.map((s) => `${s.name}: ${s.output().slice(-500)}`).join('\n')).toEqual([0, 0, 0, 0]);
    for (const service of services) expect(service.output()).toContain('"msg":"stopped"');
  });

  it('never logs a phone number unmasked', () => {
    const logs = services.map((s) => s.output()).join('\n');
    expect(logs).toContain('138****8000');
    expect(logs).not.toMatch(/13800138000|13900139001|13700137001|13700137002/);
  });
});
