/**
 * Checks docker-compose.yml and the Dockerfile against the config loader, without Docker:
 * for every process the compose file starts, the environment the container would see is
 * rebuilt (anchors merged, ${...} interpolated the way Compose does) and fed to loadConfig.
 * A variable dropped from the compose file, a typo in its name or a secret that Compose
 * would let through empty fails here instead of at three in the morning.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, type ServiceName } from '@lr/config';

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
const PROCESSES: readonly ServiceName[] = [...APP_SERVICES, 'migrate'];

/**
 * What an operator would export before `docker compose up`: one valid-looking value for
 * every variable the compose file takes from the host without a default.
 */
const HOST_ENV: Record<string, string> = {
  POSTGRES_PASSWORD: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b',
  TWILIO_ACCOUNT_SID: 'AC' + '0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: 'fedcba9876543210fedcba9876543210',
  TWILIO_FROM: '+15005550006',
  TWILIO_MESSAGING_SERVICE_SID: 'MG' + '0123456789abcdef0123456789abcdef',
  PUBLIC_BASE_URL: 'https://reminders.example.com',
  PUSH_GATEWAY_URL: 'https://push.example.com/v1/send',
  PUSH_GATEWAY_SECRET: 'pgs_4c1f0b8e2a7d9c3e5f6a1b2c3d4e5f6a7b8c9d0e',
  INBOX_JWT_SECRET: 'ijs_8e2a7d9c3e5f6a1b2c3d4e5f6a7b8c9d0e1f2a3b',
  PII_KEY: 'pii_2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d',
  ADMIN_API_KEY: 'ak_5f6a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a',
};

/** Secrets and endpoints that must make Compose refuse to start when unset. */
const MUST_BE_GUARDED: Record<(typeof APP_SERVICES)[number], string[]> = {
  api: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'PUBLIC_BASE_URL', 'INBOX_JWT_SECRET', 'PII_KEY', 'ADMIN_API_KEY'],
  scheduler: [],
  'sms-worker': ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'PUBLIC_BASE_URL'],
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
      expect(commandOf(name)).toBe(`node --import tsx services/${name}/src/main.ts`);
    }
    expect(commandOf('migrate')).toBe('node --import tsx scripts/migrate.ts');
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

  describe.each(PROCESSES)('%s', (name) => {
    const env = containerEnv(name);

    it('passes loadConfig with the environment Compose would give it', () => {
      expect(() => loadConfig(name, env)).not.toThrow();
    });

    it('talks to the postgres and redis services', () => {
      const config = loadConfig(name, env);
      expect(hostOf(env.DATABASE_URL ?? ''), 'DATABASE_URL').toBe('postgres');
      expect(hostOf(config.databaseUrl)).toBe('postgres');
      expect(decodeURIComponent(new URL(config.databaseUrl).password)).toBe(
        containerEnv('postgres').POSTGRES_PASSWORD,
      );
      if (name !== 'migrate') {
        expect(hostOf(env.REDIS_URL ?? ''), 'REDIS_URL').toBe('redis');
        expect(hostOf(config.redisUrl)).toBe('redis');
      }
    });

    it('cannot start with a variable loadConfig requires left empty', () => {
      // With nothing exported on the host, every variable loadConfig needs must either make
      // Compose refuse (${VAR:?...}) or be given a non-empty value by the compose file.
      for (const key of requiredBy(name, env)) {
        const raw = rawEnvironment(name)[key];
        expect(raw, `${key} is passed through from the host without a guard`).not.toBeNull();
        let value: string | undefined;
        try {
          value = interpolate(raw!, {});
        } catch (error) {
          expect(error).toBeInstanceOf(ComposeRefusal);
          continue;
        }
        expect(value.trim(), `${key} would be empty`).not.toBe('');
      }
    });
  });

  it.each(APP_SERVICES)('%s: Compose refuses to start without its secrets and endpoints', (name) => {
    const env = containerEnv(name);
    const required = requiredBy(name, env);
    for (const key of MUST_BE_GUARDED[name]) {
      expect(env, `${name} gets ${key}`).toHaveProperty([key]);
      const raw = rawEnvironment(name)[key]!;
      expect(references(raw)).toContainEqual(expect.objectContaining({ name: key, operator: ':?' }));
      const host = { ...HOST_ENV };
      delete host[key];
      expect(() => containerEnv(name, host)).toThrow(key);
    }
    // The requirement detection itself works: loadConfig does need these.
    const expected = MUST_BE_GUARDED[name].filter((key) => key !== 'ADMIN_API_KEY');
    expect(required).toEqual(expect.arrayContaining(expected));
  });

  it('sends through Twilio and the push gateway, without demo data', () => {
    for (const name of APP_SERVICES) {
      const env = containerEnv(name);
      expect(env.SMS_PROVIDER, name).toBe('twilio');
      expect(env.PUSH_PROVIDER, name).toBe('gateway');
      expect(env.DEMO_DATA, name).toBe('off');
    }
    const sms = loadConfig('sms-worker', containerEnv('sms-worker'));
    expect(sms.sms).toMatchObject({ provider: 'twilio', accountSid: HOST_ENV.TWILIO_ACCOUNT_SID, from: HOST_ENV.TWILIO_FROM });
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
      expect(compose.volumes ?? {}, `named volume ${source}`).toHaveProperty([source]);
    }
  });

  it('publishes the API on 3000 with a readiness healthcheck that needs no curl', () => {
    const api = service('api');
    const env = containerEnv('api');
    expect(env.HOST).toBe('0.0.0.0');
    const port = loadConfig('api', env).port;
    expect(port).toBe(3000);
    const published = (api.ports ?? []).map((p) =>
      typeof p === 'object' ? String(p.target) : interpolate(String(p), {}),
    );
    expect(published).toContain(`3000:${port}`);
    const test = JSON.stringify(api.healthcheck?.test);
    expect(test).toContain(`:${port}/readyz`);
    expect(test).toContain('fetch');
    expect(test).not.toContain('curl');
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
    const beforeInstall = copies.filter((line) => instructions.indexOf(line) < install).join('\n');
    for (const manifest of manifests) {
      expect(beforeInstall, `${manifest} is copied before pnpm install`).toMatch(
        new RegExp(`(^|\\s)${manifest.replace(/[.]/g, '\\.')}(\\s|$)`, 'm'),
      );
    }
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
    expect(JSON.parse(cmd!.slice(3).trim())).toEqual(['node', '--import', 'tsx', 'services/api/src/main.ts']);
  });
});
