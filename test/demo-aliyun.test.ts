// The demo under SMS_PROVIDER=aliyun: its categories carry the template fields a county sets
// (docs/aliyun.md), which the API accepts under Alibaba Cloud's rules, and the SMS worker
// sends today's demo reminders with them to an Alibaba Cloud (the fake, at the HTTP level)
// that approved exactly the demo's templates and checks their variables as it would.
import { insertCategory } from '@lr/db';
import { demoCategories, demoHistory } from '@lr/demo';
import { DIGEST_VARIABLES, renderTemplateSms, renewalLink, type Category, type License, type ReminderFacts } from '@lr/domain';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import {
  eventually,
  fakeAliyun,
  freshDatabase,
  freshMessageQueues,
  providerEnv,
  startService,
  storeLicenses,
  ALIYUN_API_ENV,
  TEST_ALIYUN,
  validLicense,
  FOLLOW_UP_DAYS,
  type FakeAliyun,
  type ServiceProcess,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startTestApp, type TestApp } from '../services/api/test/harness';

const TODAY = '2026-03-02';
const categories = demoCategories();

/** Every licence the demo stores, today's and those its renewals bring. */
function allDemoLicenses(): License[] {
  const history = demoHistory(TODAY);
  return [...history.licenses, ...history.renewals.map((r) => r.license)].map(validLicense);
}

/** The demo's templates as the Alibaba Cloud account that approved them knows them: code → variables. */
function approvedTemplates(): Record<string, string[]> {
  const templates: Record<string, string[]> = { [TEST_ALIYUN.digestTemplateCode]: [...DIGEST_VARIABLES] };
  for (const c of categories) templates[c.aliyunTemplateCode!] = Object.keys(c.aliyunTemplateParams!);
  return templates;
}

describe('the demo categories under SMS_PROVIDER=aliyun', () => {
  it('each name an approved template and map its variables to our placeholders', () => {
    for (const c of categories) {
      expect(c.channels, c.code).toContain('sms');
      expect(c.aliyunTemplateCode, c.code).toMatch(/^SMS_\d+$/);
      // The link's token, never the link: a variable may not carry one.
      expect(Object.values(c.aliyunTemplateParams ?? {}), c.code).toContain('{renewalToken}');
    }
    // Categories of one wording share one approved template.
    expect(new Set(categories.map((c) => c.aliyunTemplateCode)).size).toBe(2);
  });

  describe('through the API', () => {
    let testApp: TestApp | undefined;
    beforeAll(async () => {
      testApp = await startTestApp(ALIYUN_API_ENV);
    });
    afterAll(() => testApp?.close());

    it.each(categories.map((c) => [c.code, c] as const))('%s is accepted as a county would enter it, and previews without a warning', async (_code, category) => {
      const { leadDays: _leadDays, enabled: _enabled, ...body } = category;
      const res = await testApp!.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: body });
      expect(res.statusCode, res.body).toBe(201);
      const { preview } = res.json<{ preview: { aliyun?: { templateCode: string; templateParam: Record<string, string> }; warnings: string[] } }>();
      expect(preview.warnings).toEqual([]);
      expect(preview.aliyun?.templateCode).toBe(category.aliyunTemplateCode);
      expect(Object.keys(preview.aliyun?.templateParam ?? {}).sort()).toEqual(Object.keys(category.aliyunTemplateParams!).sort());
    });
  });

  it("render every demo licence's SMS whole: each variable 1 to 35 characters, none cut", () => {
    const byCode = new Map<string, Category>(categories.map((c) => [c.code, c]));
    const link = renewalLink('https://zwfw.lushi.gov.cn', 'Xq3vT8kLm2Rw9ZpA');
    const licenses = allDemoLicenses();
    expect(licenses.length).toBeGreaterThan(600);
    const facts = (license: License, daysLeft: number): ReminderFacts => ({
      holderName: license.holderName,
      licenseNo: license.licenseNo,
      expiresOn: license.expiresOn,
      daysLeft,
      category: byCode.get(license.categoryCode)!,
    });
    for (const license of licenses) {
      for (const daysLeft of [60, 0]) {
        const rendered = renderTemplateSms([facts(license, daysLeft)], link, TEST_ALIYUN.digestTemplateCode);
        expect(rendered, license.licenseNo).toMatchObject({ ok: true });
      }
    }
    // A holder's several licences go as the digest, whose first licence may be of any category.
    for (const c of categories) {
      const first = licenses.find((l) => l.categoryCode === c.code)!;
      const digest = renderTemplateSms([facts(first, 10), facts(licenses[0]!, 30)], link, TEST_ALIYUN.digestTemplateCode);
      expect(digest, c.code).toMatchObject({ ok: true, sms: { templateCode: TEST_ALIYUN.digestTemplateCode } });
    }
  });
});

describe("today's demo reminders, sent by the SMS worker through Alibaba Cloud", () => {
  let database: TestDatabase;
  let redis: TestQueues;
  let fake: FakeAliyun;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    [database, redis, fake] = await Promise.all([freshDatabase(), freshMessageQueues(), fakeAliyun({ templates: approvedTemplates() })]);
  });

  afterAll(async () => {
    await worker?.stop();
    await fake?.close();
    await redis?.cleanup();
    await database?.drop();
  });

  it('are all taken, each with its category template or the digest, and their variables as approved', async () => {
    for (const category of categories) await insertCategory(database.db, category);
    await storeLicenses(database.db, demoHistory(TODAY).licenses.map(validLicense));
    const scan = await runScan(
      { db: database.db, queues: redis.queues, log: createLogger('scan', 'silent'), followUpDays: FOLLOW_UP_DAYS },
      { asOf: TODAY, trigger: 'cron' },
    );
    const queued = await database.db.selectFrom('outgoingMessages').select('id').where('scanId', '=', scan.id).where('channel', '=', 'sms').execute();
    expect(queued.length).toBeGreaterThan(5);

    worker = startService('sms-worker', {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      QUIET_HOURS: 'off',
      LOG_LEVEL: 'warn',
      ...providerEnv({ aliyun: fake }),
    });
    const finished = await eventually(
      async () => {
        const rows = await database.db.selectFrom('outgoingMessages').select(['status', 'errorCode', 'errorMessage']).where('scanId', '=', scan.id).where('channel', '=', 'sms').execute();
        return rows.every((r) => !['pending', 'queued', 'sending'].includes(r.status)) ? rows : undefined;
      },
      30_000,
      `every SMS of the scan to be finished (${worker.output()})`,
    );
    expect(finished.filter((r) => r.status !== 'sent')).toEqual([]);
    const taken = fake.sms();
    expect(taken).toHaveLength(queued.length);
    const templates = approvedTemplates();
    for (const sms of taken) expect(Object.keys(sms.templateParam).sort()).toEqual([...templates[sms.templateCode]!].sort());
    // The shared licence template is among them; a digest, for a holder with several licences
    // due, is held to its approved variables by the loop above like every other SMS.
    expect(new Set(taken.map((s) => s.templateCode))).toContain('SMS_468012301');
  }, 60_000);
});
