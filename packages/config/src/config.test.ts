import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

const API_ENV = { INBOX_JWT_SECRET: 'x'.repeat(32), PII_KEY: 'k'.repeat(32) };

function problem(service: Parameters<typeof loadConfig>[0], env: Record<string, string>): string {
  try {
    loadConfig(service, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('has the defaults of the contract', () => {
    const config = loadConfig('scheduler', {});
    expect(config).toMatchObject({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/license_reminders',
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'lr',
      smsRatePerSec: 20,
      smsMaxPerRecipientPerDay: 3,
      rateLimitPerMinute: 600,
      host: '127.0.0.1',
      port: 3000,
      timezone: 'Asia/Shanghai',
      scanCron: '30 7 * * *',
      quietHours: { start: 21 * 60, end: 8 * 60 },
      claimLeaseSeconds: 120,
      deliveryConcurrency: 256,
      followUpDays: 3,
      allowFutureScans: false,
      messageRetentionDays: 365,
      reportConcurrency: 2,
      logFormat: 'auto',
      demoData: true,
      sms: { provider: 'log' },
      push: { provider: 'log' },
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT: must be a whole number/],
    [{ SMS_RATE_PER_SEC: '0' }, /^SMS_RATE_PER_SEC: must be a whole number from 1/],
    [{ RATE_LIMIT_PER_MINUTE: '0' }, /^RATE_LIMIT_PER_MINUTE: must be a whole number from 1 to 1000000/],
    [{ RATE_LIMIT_PER_MINUTE: '1000001' }, /^RATE_LIMIT_PER_MINUTE: must be a whole number from 1 to 1000000/],
    [{ RATE_LIMIT_PER_MINUTE: '60.5' }, /^RATE_LIMIT_PER_MINUTE: must be a whole number/],
    [{ REMINDER_TIMEZONE: 'Mars/Olympus' }, /^REMINDER_TIMEZONE: is not an IANA time zone/],
    [{ SCAN_CRON: 'every morning' }, /^SCAN_CRON: is not a cron expression/],
    [{ CLAIM_LEASE_SECONDS: '0' }, /^CLAIM_LEASE_SECONDS: must be a whole number from 1/],
    [{ DELIVERY_CONCURRENCY: '0' }, /^DELIVERY_CONCURRENCY: must be a whole number from 1 to 4096/],
    [{ QUIET_HOURS: '21:00' }, /^QUIET_HOURS: must be "HH:MM-HH:MM"/],
    [{ QUIET_HOURS: '08:00-08:00' }, /^QUIET_HOURS: must be "HH:MM-HH:MM" with two different times/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: must be a postgres: or postgresql: URL/],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL: must be a URL/],
    [{ QUEUE_PREFIX: 'a:b' }, /^QUEUE_PREFIX:/],
    [{ DEMO_DATA: 'yes' }, /^DEMO_DATA: must be one of on, off/],
    [{ FOLLOW_UP_DAYS: '-1' }, /^FOLLOW_UP_DAYS: must be a whole number from 0 to 366/],
    [{ FOLLOW_UP_DAYS: '367' }, /^FOLLOW_UP_DAYS: must be a whole number from 0 to 366/],
    [{ REPORT_CONCURRENCY: '9' }, /^REPORT_CONCURRENCY: must be a whole number from 1 to 8/],
    [{ LOG_FORMAT: 'xml' }, /^LOG_FORMAT: must be one of auto, json, pretty/],
    [{ ALLOW_FUTURE_SCANS: 'yes' }, /^ALLOW_FUTURE_SCANS: must be one of on, off/],
    [{ MESSAGE_RETENTION_DAYS: '29' }, /^MESSAGE_RETENTION_DAYS: must be a whole number from 30 to 3650/],
    [{ MESSAGE_RETENTION_DAYS: 'a year' }, /^MESSAGE_RETENTION_DAYS: must be a whole number from 30 to 3650/],
    [{ SMS_PROVIDER: 'tencent' }, /^SMS_PROVIDER: must be one of log, twilio, aliyun/],
  ])('stops at %o with one line naming the variable', (env, message) => {
    const text = problem('scheduler', env);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  it('allows scans of a date after today only with ALLOW_FUTURE_SCANS=on', () => {
    expect(loadConfig('scan', { ALLOW_FUTURE_SCANS: 'on' }).allowFutureScans).toBe(true);
    expect(loadConfig('scan', { ALLOW_FUTURE_SCANS: 'off' }).allowFutureScans).toBe(false);
  });

  it('reads the API rate limit per minute, from 1 to 1,000,000', () => {
    expect(loadConfig('scheduler', { RATE_LIMIT_PER_MINUTE: '5' }).rateLimitPerMinute).toBe(5);
    expect(loadConfig('scheduler', { RATE_LIMIT_PER_MINUTE: '1000000' }).rateLimitPerMinute).toBe(1_000_000);
  });

  it('trusts no proxy unless TRUST_PROXY names their addresses and CIDR ranges', () => {
    expect(loadConfig('api', API_ENV).trustProxy).toBe(false);
    expect(loadConfig('api', { ...API_ENV, TRUST_PROXY: 'off' }).trustProxy).toBe(false);
    expect(loadConfig('api', { ...API_ENV, TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,::1, fd00::/8,uniquelocal' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '192.168.1.7',
      '::1',
      'fd00::/8',
      'uniquelocal',
    ]);
    // A hop count too: Fastify would take it and trust nothing.
    expect(problem('api', { ...API_ENV, TRUST_PROXY: '1' })).toMatch(/^TRUST_PROXY: takes the proxies' addresses, not a hop count/);
    for (const bad of ['on', 'true', '0', '2', '10.0.0.0/33', '10.0.0/8', 'proxy.example.com', '10.0.0.1,', '1.2.3.4/8/1', '::1/129']) {
      const text = problem('api', { ...API_ENV, TRUST_PROXY: bad });
      expect(text, bad).toMatch(/^TRUST_PROXY: /);
      expect(text, bad).not.toContain('\n');
    }
  });

  it('knows whether npm start runs it only from NPM_START', () => {
    expect(loadConfig('sms-worker', {}).npmStart).toBe(false);
    expect(loadConfig('sms-worker', { NPM_START: 'on' }).npmStart).toBe(true);
  });

  it('reads quiet hours within a day and "off"', () => {
    expect(loadConfig('scheduler', { QUIET_HOURS: '12:30-13:45' }).quietHours).toEqual({ start: 750, end: 825 });
    expect(loadConfig('scheduler', { QUIET_HOURS: 'off' }).quietHours).toBeNull();
  });

  it('asks the SMS worker for Twilio credentials only when SMS_PROVIDER=twilio', () => {
    expect(loadConfig('sms-worker', {}).sms).toEqual({ provider: 'log' });
    expect(problem('sms-worker', { SMS_PROVIDER: 'twilio' })).toMatch(/^TWILIO_ACCOUNT_SID: is required when SMS_PROVIDER=twilio/);
    const twilio = {
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_MESSAGING_SERVICE_SID: 'MG123',
    };
    expect(problem('sms-worker', twilio)).toMatch(/^PUBLIC_BASE_URL: is required/);
    expect(problem('sms-worker', { ...twilio, PUBLIC_BASE_URL: 'https://x.gov.cn', TWILIO_MESSAGING_SERVICE_SID: '' })).toMatch(
      /^TWILIO_FROM: or TWILIO_MESSAGING_SERVICE_SID is required/,
    );
    const config = loadConfig('sms-worker', { ...twilio, PUBLIC_BASE_URL: 'https://x.gov.cn/' });
    expect(config.sms).toMatchObject({ provider: 'twilio', apiBaseUrl: 'https://api.twilio.com', messagingServiceSid: 'MG123' });
    expect(config.publicBaseUrl).toBe('https://x.gov.cn');
    // The scheduler sends nothing, so it needs no credentials.
    expect(loadConfig('scheduler', { SMS_PROVIDER: 'twilio' }).sms).toEqual({ provider: 'log' });
  });

  it("asks the API with SMS_PROVIDER=aliyun for the receipt URL's token alone: it calls Alibaba Cloud for nothing", () => {
    const aliyun = { ...API_ENV, SMS_PROVIDER: 'aliyun' };
    expect(problem('api', aliyun)).toMatch(/^ALIYUN_SMS_REPORT_TOKEN: is required when SMS_PROVIDER=aliyun/);
    // It alone authenticates a receipt: a trivially short or URL-unsafe one is refused.
    for (const bad of ['short', 'a'.repeat(7), `${'a'.repeat(24)}/x`, `${'a'.repeat(24)}?x`, 'a'.repeat(129)]) {
      expect(problem('api', { ...aliyun, ALIYUN_SMS_REPORT_TOKEN: bad }), bad).toMatch(/^ALIYUN_SMS_REPORT_TOKEN: must be 8 to 128/);
    }
    const token = 'f3a9c2e07b5d41e8a6c1d2b3e4f50617';
    // No key: the API has none to leak.
    expect(loadConfig('api', { ...aliyun, ALIYUN_SMS_REPORT_TOKEN: token }).sms).toEqual({
      provider: 'aliyun',
      account: undefined,
      reportToken: token,
      reconcileMinutes: undefined,
      sending: undefined,
    });
  });

  it('asks the scheduler with SMS_PROVIDER=aliyun for the account it looks SMS up with, and not for the token', () => {
    const keys = { ALIYUN_ACCESS_KEY_ID: 'LTAI5tKey', ALIYUN_ACCESS_KEY_SECRET: 'secret' };
    const aliyun = { SMS_PROVIDER: 'aliyun', ...keys };
    expect(problem('scheduler', { SMS_PROVIDER: 'aliyun' })).toMatch(/^ALIYUN_ACCESS_KEY_ID: is required when SMS_PROVIDER=aliyun/);
    expect(problem('scheduler', { SMS_PROVIDER: 'aliyun', ALIYUN_ACCESS_KEY_ID: 'LTAI5tKey' })).toMatch(/^ALIYUN_ACCESS_KEY_SECRET: is required/);
    expect(loadConfig('scheduler', aliyun).sms).toEqual({
      provider: 'aliyun',
      account: { accessKeyId: 'LTAI5tKey', accessKeySecret: 'secret', endpoint: 'https://dysmsapi.aliyuncs.com' },
      reportToken: undefined,
      reconcileMinutes: 30,
      sending: undefined,
    });
    expect(loadConfig('scheduler', { ...aliyun, ALIYUN_SMS_ENDPOINT: 'http://127.0.0.1:9000/' }).sms).toMatchObject({ account: { endpoint: 'http://127.0.0.1:9000' } });
    expect(problem('scheduler', { ...aliyun, ALIYUN_SMS_ENDPOINT: 'dysmsapi.aliyuncs.com' })).toMatch(/^ALIYUN_SMS_ENDPOINT: must be a URL/);
    expect(problem('scheduler', { ...aliyun, ALIYUN_SMS_ENDPOINT: 'https://proxy.example/sms' })).toMatch(/^ALIYUN_SMS_ENDPOINT: must be a scheme and host/);
    expect(loadConfig('scheduler', { ...aliyun, ALIYUN_SMS_RECONCILE_MINUTES: '90' }).sms).toMatchObject({ reconcileMinutes: 90 });
    // Looked up for 72 hours after sending: more than a day before the first look-up is refused.
    for (const bad of ['0', '1441', '4320', 'soon']) {
      expect(problem('scheduler', { ...aliyun, ALIYUN_SMS_RECONCILE_MINUTES: bad }), bad).toMatch(/^ALIYUN_SMS_RECONCILE_MINUTES: must be a whole number from 1 to 1440/);
    }
    expect(loadConfig('scheduler', { ...aliyun, ALIYUN_SMS_RECONCILE_MINUTES: '1440' }).sms).toMatchObject({ reconcileMinutes: 1440 });
    // Only the scheduler reads it: a bad value stops no other service.
    expect(loadConfig('api', { ...API_ENV, SMS_PROVIDER: 'aliyun', ALIYUN_SMS_REPORT_TOKEN: 'f3a9c2e07b5d41e8a6c1d2b3e4f50617', ALIYUN_SMS_RECONCILE_MINUTES: 'soon' }).sms).toMatchObject({ reconcileMinutes: undefined });
  });

  it('asks the SMS worker with SMS_PROVIDER=aliyun for the account, the signature and the digest template, naming what is missing', () => {
    const worker = {
      SMS_PROVIDER: 'aliyun',
      ALIYUN_ACCESS_KEY_ID: 'LTAI5tKey',
      ALIYUN_ACCESS_KEY_SECRET: 'secret',
      ALIYUN_SMS_SIGN_NAME: '卢氏县政务服务',
      ALIYUN_SMS_DIGEST_TEMPLATE_CODE: 'SMS_465000001',
    };
    expect(loadConfig('sms-worker', worker).sms).toMatchObject({
      provider: 'aliyun',
      account: { accessKeyId: 'LTAI5tKey' },
      reportToken: undefined,
      sending: { signName: '卢氏县政务服务', digestTemplateCode: 'SMS_465000001' },
    });
    for (const name of ['ALIYUN_ACCESS_KEY_ID', 'ALIYUN_ACCESS_KEY_SECRET', 'ALIYUN_SMS_SIGN_NAME', 'ALIYUN_SMS_DIGEST_TEMPLATE_CODE'] as const) {
      const { [name]: _missing, ...rest } = worker;
      expect(problem('sms-worker', rest), name).toMatch(new RegExp(`^${name}: is required when SMS_PROVIDER=aliyun`));
    }
    expect(problem('sms-worker', { ...worker, ALIYUN_SMS_SIGN_NAME: '【卢氏县政务服务】' })).toMatch(/^ALIYUN_SMS_SIGN_NAME: must be the approved signature itself/);
    expect(problem('sms-worker', { ...worker, ALIYUN_SMS_DIGEST_TEMPLATE_CODE: '465000001' })).toMatch(/^ALIYUN_SMS_DIGEST_TEMPLATE_CODE: must be a template code/);
  });

  it('asks the push worker for the gateway URL and secret only when PUSH_PROVIDER=gateway', () => {
    expect(problem('push-worker', { PUSH_PROVIDER: 'gateway' })).toMatch(/^PUSH_GATEWAY_URL: is required/);
    expect(problem('push-worker', { PUSH_PROVIDER: 'gateway', PUSH_GATEWAY_URL: 'https://push.example' })).toMatch(
      /^PUSH_GATEWAY_SECRET: is required/,
    );
    // A push opens the holder's renewal link: a real push needs the address the public reaches.
    const gateway = { PUSH_PROVIDER: 'gateway', PUSH_GATEWAY_URL: 'https://push.example', PUSH_GATEWAY_SECRET: 'secret' };
    expect(problem('push-worker', gateway)).toMatch(/^PUBLIC_BASE_URL: is required when PUSH_PROVIDER=gateway/);
    expect(loadConfig('push-worker', { ...gateway, PUBLIC_BASE_URL: 'https://x.gov.cn/' }).linkBaseUrl).toBe('https://x.gov.cn');
  });

  it('points renewal links at PUBLIC_BASE_URL, or without it at the API’s own address, in every service', () => {
    for (const service of ['api', 'sms-worker', 'push-worker', 'scheduler'] as const) {
      const env = service === 'api' ? API_ENV : {};
      expect(loadConfig(service, { ...env, PUBLIC_BASE_URL: 'https://reminders.example.gov.cn/' }).linkBaseUrl).toBe('https://reminders.example.gov.cn');
      expect(loadConfig(service, env).linkBaseUrl).toBe('http://127.0.0.1:3000');
      expect(loadConfig(service, { ...env, HOST: 'localhost', PORT: '8080' }).linkBaseUrl).toBe('http://localhost:8080');
    }
    // An API listening on every address is reached, from this machine, at the loopback one.
    expect(loadConfig('push-worker', { HOST: '0.0.0.0' }).linkBaseUrl).toBe('http://127.0.0.1:3000');
    expect(loadConfig('push-worker', { HOST: '::' }).linkBaseUrl).toBe('http://[::1]:3000');
    expect(loadConfig('push-worker', { HOST: 'fd00::5', PORT: '80' }).linkBaseUrl).toBe('http://[fd00::5]:80');
  });

  it('asks the API for the inbox token secret, of a useful length', () => {
    expect(problem('api', { PII_KEY: API_ENV.PII_KEY })).toMatch(/^INBOX_JWT_SECRET: is required/);
    expect(problem('api', { ...API_ENV, INBOX_JWT_SECRET: 'short' })).toMatch(/^INBOX_JWT_SECRET: must be at least 32 characters/);
    expect(loadConfig('api', API_ENV).inboxJwtSecret).toBe(API_ENV.INBOX_JWT_SECRET);
  });

  it('asks the API for the key that seals id numbers', () => {
    expect(problem('api', { INBOX_JWT_SECRET: API_ENV.INBOX_JWT_SECRET })).toMatch(/^PII_KEY: is required by the API/);
    expect(problem('api', { ...API_ENV, PII_KEY: 'short' })).toMatch(/^PII_KEY: must be at least 32 characters/);
    expect(loadConfig('api', API_ENV).piiKey?.length).toBe(32);
    expect(loadConfig('scheduler', {}).piiKey).toBeUndefined();
  });

  it('takes an optional metrics token of a useful length', () => {
    expect(loadConfig('api', API_ENV).metricsToken).toBeUndefined();
    expect(problem('api', { ...API_ENV, METRICS_TOKEN: 'short' })).toMatch(/^METRICS_TOKEN: must be at least 24 characters/);
    expect(loadConfig('api', { ...API_ENV, METRICS_TOKEN: 'm'.repeat(24) }).metricsToken).toBe('m'.repeat(24));
  });

  it('stops a service whose start finds a bad variable, with one line on stderr', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const result = await promisify(execFile)('node_modules/.bin/tsx', ['services/scheduler/src/main.ts'], {
      cwd: new URL('../../..', import.meta.url).pathname,
      env: { PATH: process.env.PATH, REMINDER_TIMEZONE: 'Nowhere/City' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual(['scheduler: configuration error: REMINDER_TIMEZONE: is not an IANA time zone: "Nowhere/City"']);
  });
});
