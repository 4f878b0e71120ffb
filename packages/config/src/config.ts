import { isIP } from 'node:net';
import cron from 'node-cron';
import { ALIYUN_TEMPLATE_CODE, MAX_LEAD_DAYS } from '@lr/domain';

/**
 * Every setting of every service, read and validated here and nowhere else.
 * Names, defaults and meanings are documented in docs/configuration.md.
 */
export type ServiceName = 'api' | 'scheduler' | 'sms-worker' | 'push-worker' | 'migrate' | 'scan';

export interface QuietHours {
  /** minutes after local midnight */
  start: number;
  end: number;
}

export type SmsSettings =
  | { provider: 'log' }
  | {
      provider: 'twilio';
      accountSid: string;
      authToken: string;
      from: string | undefined;
      messagingServiceSid: string | undefined;
      apiBaseUrl: string;
    }
  | {
      provider: 'aliyun';
      /** the SMS worker's and the scheduler's (undefined in the API): they call Alibaba Cloud */
      account: AliyunAccount | undefined;
      /** ALIYUN_SMS_REPORT_TOKEN, the API's alone: the secret last segment of the receipt URL Alibaba Cloud pushes delivery reports to */
      reportToken: string | undefined;
      /** ALIYUN_SMS_RECONCILE_MINUTES, the scheduler's alone: a sent SMS still without a receipt after this long is looked up (QuerySendDetails) */
      reconcileMinutes: number | undefined;
      /** what sending needs besides the account: the SMS worker's alone (undefined in the other services) */
      sending: AliyunSending | undefined;
    };

/** The Alibaba Cloud account that sends and answers look-ups. */
export interface AliyunAccount {
  accessKeyId: string;
  accessKeySecret: string;
  /** ALIYUN_SMS_ENDPOINT: a URL; its scheme and host:port become the SDK's protocol and endpoint */
  endpoint: string;
}

/** How the SMS worker sends through Alibaba Cloud (docs/aliyun.md). */
export interface AliyunSending {
  /** ALIYUN_SMS_SIGN_NAME: the approved signature (签名), e.g. 卢氏县政务服务 */
  signName: string;
  /** ALIYUN_SMS_DIGEST_TEMPLATE_CODE: the template of a message that carries several licences (count, first, date, token, tel) */
  digestTemplateCode: string;
}

export type PushSettings = { provider: 'log' } | { provider: 'gateway'; url: string; secret: string };

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  smsRatePerSec: number;
  smsMaxPerRecipientPerDay: number;
  /** RATE_LIMIT_PER_MINUTE: API requests per API key (or client address) per minute */
  rateLimitPerMinute: number;
  /**
   * TRUST_PROXY: the proxies in front of the API whose X-Forwarded-For names the client
   * (rate limits count per client address), as Fastify's trustProxy: false (`off`) or
   * their addresses and CIDR ranges.
   */
  trustProxy: false | string[];
  /**
   * NPM_START: set by `npm start` alone, for the processes it runs. A worker with the log
   * provider is expected there; anywhere else it warns that nothing reaches the holders.
   */
  npmStart: boolean;
  host: string;
  port: number;
  timezone: string;
  scanCron: string;
  /** how often the scheduler sweeps lost messages back onto their queues and checks that today's scan ran */
  sweepIntervalSeconds: number;
  quietHours: QuietHours | null;
  /**
   * CLAIM_LEASE_SECONDS: how long a worker's claim on an outgoing message holds. A message
   * still 'sending' after that lost its worker mid-send (killed, cut off) and is sent again.
   * Provider calls time out within a third of it (10 s at most), so a send under way is
   * never taken for one whose worker died.
   */
  claimLeaseSeconds: number;
  /**
   * DELIVERY_CONCURRENCY: jobs one SMS or push worker process runs at once. Their claims and
   * records share statements, so more at once costs less each; and a provider that takes
   * 100 ms needs 200 under way for 2,000 a second. SMS_RATE_PER_SEC still caps SMS.
   */
  deliveryConcurrency: number;
  demoData: boolean;
  adminApiKey: string | undefined;
  /** METRICS_TOKEN: a bearer that opens /metrics (as any API key does) and nothing else */
  metricsToken: string | undefined;
  sms: SmsSettings;
  push: PushSettings;
  publicBaseUrl: string | undefined;
  /**
   * Where renewal links point (PUBLIC_BASE_URL/r/{token}): PUBLIC_BASE_URL, or when it is
   * unset (log providers, `npm start`) the API's own address from HOST and PORT, so that
   * the links of a local demo open.
   */
  linkBaseUrl: string;
  inboxJwtSecret: string | undefined;
  /** PII_KEY: seals holders' id numbers at rest (at least 32 characters) */
  piiKey: Buffer | undefined;
  logLevel: string;
  /** LOG_FORMAT: createLogger's `auto`, `json` or `pretty` */
  logFormat: 'auto' | 'json' | 'pretty';
  /**
   * REPORT_CONCURRENCY: reports (figures, forecast, CSV downloads) the API runs at once; more
   * are answered 429. Each holds a database connection and up to 256 MB of PostgreSQL's memory;
   * at most 8 of the API's 10 connections, so the rest always serve the other requests.
   */
  reportConcurrency: number;
  /** FOLLOW_UP_DAYS: a reached cycle still open with this many days left or fewer gets a `not_renewed` follow-up */
  followUpDays: number;
  /**
   * ALLOW_FUTURE_SCANS: whether POST /v1/scans and `npm run scan` may scan a date after
   * today; off, such a scan is refused, as it would send real messages early.
   */
  allowFutureScans: boolean;
  /**
   * MESSAGE_RETENTION_DAYS: the text of a sent message (it names the holder) is erased this
   * many days after the message was made, and the in-app inbox's copy deleted (PIPL: personal
   * data kept no longer than needed). The message's record stays for the ledger.
   */
  messageRetentionDays: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback?: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

function required(env: Env, name: string, why: string): string {
  const value = text(env, name);
  if (value === undefined) throw new ConfigError(name, `is required ${why}`);
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function url(env: Env, name: string, protocols: string[], fallback?: string): string | undefined {
  const raw = text(env, name, fallback);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must be a ${protocols.join(' or ')} URL`);
  }
  return raw.replace(/\/+$/, '');
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = text(env, name, fallback)!;
  if (!(values as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function timezone(env: Env, name: string, fallback: string): string {
  const raw = text(env, name, fallback)!;
  try {
    new Intl.DateTimeFormat('en', { timeZone: raw });
  } catch {
    throw new ConfigError(name, `is not an IANA time zone: "${raw}"`);
  }
  return raw;
}

function quietHours(env: Env, name: string): QuietHours | null {
  const raw = text(env, name, '21:00-08:00')!;
  if (raw === 'off') return null;
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(raw);
  const start = Number(match?.[1]) * 60 + Number(match?.[2]);
  const end = Number(match?.[3]) * 60 + Number(match?.[4]);
  if (match === null || start === end) {
    throw new ConfigError(name, `must be "HH:MM-HH:MM" with two different times, or "off"; got "${raw}"`);
  }
  return { start, end };
}

function onOff(env: Env, name: string, fallback: 'on' | 'off'): boolean {
  return oneOf(env, name, ['on', 'off'], fallback) === 'on';
}

/** proxy-addr's names for the private ranges, which Fastify takes as addresses too */
const ADDRESS_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function trustProxy(env: Env, name: string): false | string[] {
  const raw = text(env, name, 'off')!;
  if (raw === 'off') return false;
  // Fastify takes a hop count but trusts nothing with it: it cannot tell the proxy from a
  // client that sent the header itself. Better refused than silently doing nothing.
  if (/^\d+$/.test(raw)) throw new ConfigError(name, `takes the proxies' addresses, not a hop count ("${raw}")`);
  const entries = raw.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (!ADDRESS_RANGES.has(entry) && (family === 0 || !prefixOk || extra !== undefined)) {
      // "on" is refused too: trusting every sender would let any client choose the address it is counted under.
      throw new ConfigError(
        name,
        `must be "off", or comma-separated addresses and CIDR ranges (or loopback, linklocal, uniquelocal); "${entry}" is none of these`,
      );
    }
  }
  return entries;
}

function sms(env: Env, service: ServiceName): SmsSettings {
  const provider = oneOf(env, 'SMS_PROVIDER', ['log', 'twilio', 'aliyun'], 'log');
  // The API checks receipts, the SMS worker sends, and with Alibaba Cloud the scheduler looks
  // up the SMS whose receipt did not come.
  const needed = service === 'sms-worker' || service === 'api' || (provider === 'aliyun' && service === 'scheduler');
  if (provider === 'log' || !needed) return { provider: 'log' };
  if (provider === 'aliyun') return aliyun(env, service);
  const why = 'when SMS_PROVIDER=twilio';
  const accountSid = required(env, 'TWILIO_ACCOUNT_SID', why);
  if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) {
    throw new ConfigError('TWILIO_ACCOUNT_SID', 'must be "AC" followed by 32 hex digits');
  }
  const from = text(env, 'TWILIO_FROM');
  const messagingServiceSid = text(env, 'TWILIO_MESSAGING_SERVICE_SID');
  if (from === undefined && messagingServiceSid === undefined) {
    throw new ConfigError('TWILIO_FROM', `or TWILIO_MESSAGING_SERVICE_SID is required ${why}`);
  }
  return {
    provider,
    accountSid,
    authToken: required(env, 'TWILIO_AUTH_TOKEN', why),
    from,
    messagingServiceSid,
    apiBaseUrl: url(env, 'TWILIO_API_BASE_URL', ['http:', 'https:'], 'https://api.twilio.com')!,
  };
}

/**
 * Alibaba Cloud SMS, what each service needs of it: the SMS worker sends (the account, the
 * signature and the digest template), the scheduler looks up SMS left without a receipt (the
 * account), the API takes the pushed receipts (their URL's token).
 */
function aliyun(env: Env, service: ServiceName): SmsSettings {
  const why = 'when SMS_PROVIDER=aliyun';
  return {
    provider: 'aliyun',
    account: service === 'api' ? undefined : aliyunAccount(env, why),
    reportToken: service === 'api' ? reportToken(env, why) : undefined,
    // SMS are looked up for 72 hours after they were sent (reconcile.ts): a day at most leaves two days of look-ups.
    reconcileMinutes: service === 'scheduler' ? integer(env, 'ALIYUN_SMS_RECONCILE_MINUTES', 30, 1, 24 * 60) : undefined,
    sending: service === 'sms-worker' ? aliyunSending(env, why) : undefined,
  };
}

function aliyunAccount(env: Env, why: string): AliyunAccount {
  const accessKeyId = required(env, 'ALIYUN_ACCESS_KEY_ID', why);
  const accessKeySecret = required(env, 'ALIYUN_ACCESS_KEY_SECRET', why);
  const endpoint = url(env, 'ALIYUN_SMS_ENDPOINT', ['http:', 'https:'], 'https://dysmsapi.aliyuncs.com')!;
  // The SDK takes a host:port and a protocol, nothing more: a path would be dropped silently.
  if (new URL(endpoint).pathname !== '/') throw new ConfigError('ALIYUN_SMS_ENDPOINT', 'must be a scheme and host[:port], without a path');
  return { accessKeyId, accessKeySecret, endpoint };
}

function reportToken(env: Env, why: string): string {
  const token = required(env, 'ALIYUN_SMS_REPORT_TOKEN', why);
  // It is all that authenticates a receipt: a plain URL segment, not trivially short. (The
  // contract fixes no length; the docs ask for 32 random characters, openssl rand -hex 16.)
  if (!/^[A-Za-z0-9._~-]{8,128}$/.test(token)) {
    throw new ConfigError('ALIYUN_SMS_REPORT_TOKEN', 'must be 8 to 128 letters, digits, ".", "_", "~" or "-" (e.g. openssl rand -hex 16)');
  }
  return token;
}

function aliyunSending(env: Env, why: string): AliyunSending {
  const signName = required(env, 'ALIYUN_SMS_SIGN_NAME', why);
  // The signature as approved: Alibaba Cloud adds the brackets, and refuses one it does not know.
  if (/[【】[\]]/.test(signName) || Array.from(signName).length > 20) {
    throw new ConfigError('ALIYUN_SMS_SIGN_NAME', 'must be the approved signature itself: at most 20 characters, without 【】');
  }
  const digestTemplateCode = required(env, 'ALIYUN_SMS_DIGEST_TEMPLATE_CODE', why);
  if (!ALIYUN_TEMPLATE_CODE.test(digestTemplateCode)) {
    throw new ConfigError('ALIYUN_SMS_DIGEST_TEMPLATE_CODE', `must be a template code, "SMS_" and digits; got "${digestTemplateCode}"`);
  }
  return { signName, digestTemplateCode };
}

function push(env: Env, needed: boolean): PushSettings {
  const provider = oneOf(env, 'PUSH_PROVIDER', ['log', 'gateway'], 'log');
  if (provider === 'log' || !needed) return { provider: 'log' };
  const why = 'when PUSH_PROVIDER=gateway';
  if (text(env, 'PUSH_GATEWAY_URL') === undefined) required(env, 'PUSH_GATEWAY_URL', why);
  return {
    provider,
    url: url(env, 'PUSH_GATEWAY_URL', ['http:', 'https:'])!,
    secret: required(env, 'PUSH_GATEWAY_SECRET', why),
  };
}

/**
 * Reads the configuration a service needs. Variables that only one service uses are
 * checked only for that service, so a scheduler does not need Twilio credentials.
 */
export function loadConfig(service: ServiceName, env: Env = process.env): Config {
  const smsSettings = sms(env, service);
  const publicBaseUrl = url(env, 'PUBLIC_BASE_URL', ['http:', 'https:']);
  if (smsSettings.provider === 'twilio' && publicBaseUrl === undefined) {
    required(env, 'PUBLIC_BASE_URL', 'when SMS_PROVIDER=twilio (status callbacks and their signatures)');
  }
  const pushSettings = push(env, service === 'push-worker');
  if (pushSettings.provider === 'gateway' && publicBaseUrl === undefined) {
    required(env, 'PUBLIC_BASE_URL', "when PUSH_PROVIDER=gateway (each push opens the holder's renewal link there)");
  }
  const host = text(env, 'HOST', '127.0.0.1')!;
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const inboxJwtSecret = text(env, 'INBOX_JWT_SECRET');
  if (service === 'api' && inboxJwtSecret === undefined) {
    required(env, 'INBOX_JWT_SECRET', 'by the API (licensee tokens of the in-app inbox)');
  }
  if (inboxJwtSecret !== undefined && inboxJwtSecret.length < 32) {
    throw new ConfigError('INBOX_JWT_SECRET', 'must be at least 32 characters');
  }
  const piiKey = text(env, 'PII_KEY');
  if (service === 'api' && piiKey === undefined) {
    required(env, 'PII_KEY', 'by the API (it seals id numbers at rest; e.g. openssl rand -base64 32)');
  }
  if (piiKey !== undefined && piiKey.length < 32) throw new ConfigError('PII_KEY', 'must be at least 32 characters');
  const scanCron = text(env, 'SCAN_CRON', '30 7 * * *')!;
  if (!cron.validate(scanCron)) throw new ConfigError('SCAN_CRON', `is not a cron expression: "${scanCron}"`);
  const queuePrefix = text(env, 'QUEUE_PREFIX', 'lr')!;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(queuePrefix)) {
    throw new ConfigError('QUEUE_PREFIX', 'must be 1 to 64 letters, digits, "_" or "-"');
  }
  const metricsToken = text(env, 'METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 24) {
    throw new ConfigError('METRICS_TOKEN', 'must be at least 24 characters');
  }
  const adminApiKey = text(env, 'ADMIN_API_KEY');
  if (adminApiKey !== undefined && adminApiKey.length < 24) {
    throw new ConfigError('ADMIN_API_KEY', 'must be at least 24 characters');
  }
  return {
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], DEFAULT_DATABASE_URL)!,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379')!,
    queuePrefix,
    smsRatePerSec: integer(env, 'SMS_RATE_PER_SEC', 20, 1, 100_000),
    smsMaxPerRecipientPerDay: integer(env, 'SMS_MAX_PER_RECIPIENT_PER_DAY', 3, 1, 1000),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    trustProxy: trustProxy(env, 'TRUST_PROXY'),
    npmStart: onOff(env, 'NPM_START', 'off'),
    host,
    port,
    timezone: timezone(env, 'REMINDER_TIMEZONE', 'Asia/Shanghai'),
    scanCron,
    sweepIntervalSeconds: integer(env, 'SWEEP_INTERVAL_SECONDS', 60, 1, 3600),
    quietHours: quietHours(env, 'QUIET_HOURS'),
    claimLeaseSeconds: integer(env, 'CLAIM_LEASE_SECONDS', 120, 1, 86_400),
    deliveryConcurrency: integer(env, 'DELIVERY_CONCURRENCY', 256, 1, 4096),
    demoData: onOff(env, 'DEMO_DATA', 'on'),
    adminApiKey,
    metricsToken,
    sms: smsSettings,
    push: pushSettings,
    publicBaseUrl,
    linkBaseUrl: publicBaseUrl ?? localAddress(host, port),
    inboxJwtSecret,
    piiKey: piiKey === undefined ? undefined : Buffer.from(piiKey, 'utf8'),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    logFormat: oneOf(env, 'LOG_FORMAT', ['auto', 'json', 'pretty'], 'auto'),
    reportConcurrency: integer(env, 'REPORT_CONCURRENCY', 2, 1, 8),
    followUpDays: integer(env, 'FOLLOW_UP_DAYS', 3, 0, MAX_LEAD_DAYS),
    allowFutureScans: onOff(env, 'ALLOW_FUTURE_SCANS', 'off'),
    // At least a month: a message is looked up at its provider, and sent again, for days.
    messageRetentionDays: integer(env, 'MESSAGE_RETENTION_DAYS', 365, 30, 3650),
  };
}

/**
 * The API's address as a browser on this machine reaches it: a wildcard listening address
 * (0.0.0.0, ::) is reached at the loopback one.
 */
function localAddress(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** Where Twilio posts status callbacks: the SMS worker sends PUBLIC_BASE_URL + this, the API serves it. */
export const TWILIO_STATUS_PATH = '/webhooks/twilio/status';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/license_reminders';
