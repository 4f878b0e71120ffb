import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, migrate, MIGRATIONS_DIR } from '@lr/db';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { databaseUrl, dockerEngineLikely, type TestServices } from './services';

const stops: (() => Promise<unknown>)[] = [];

async function startContainers(): Promise<Pick<TestServices, 'postgresUrl' | 'redisUrl'> | undefined> {
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const { RedisContainer } = await import('@testcontainers/redis');
    const [postgres, redis] = await Promise.all([
      new PostgreSqlContainer('postgres:15-alpine').withUsername('postgres').withPassword('postgres').start(),
      new RedisContainer('redis:7-alpine').start(),
    ]);
    stops.push(() => postgres.stop(), () => redis.stop());
    const url = new URL(postgres.getConnectionUri());
    url.pathname = '/postgres';
    return { postgresUrl: url.toString(), redisUrl: redis.getConnectionUrl() };
  } catch (error) {
    console.warn(`testcontainers could not start containers (${(error as Error).message}); using the running services`);
    return undefined;
  }
}

/** The template's name changes with the migrations, so a stale template is never cloned. */
function templateName(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIR).sort()) hash.update(file).update(readFileSync(path.join(MIGRATIONS_DIR, file)));
  return `lr_template_${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Builds the migrated template database once. It is built under a temporary name and
 * renamed when complete, so concurrent test runs never clone a half-migrated one.
 */
async function ensureTemplate(postgresUrl: string): Promise<string> {
  const name = templateName();
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    const found = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return name;
    const building = `lr_template_build_${randomBytes(4).toString('hex')}`;
    await admin.query(`create database ${building}`);
    const database = connect(databaseUrl(postgresUrl, building), { max: 1 });
    await migrate(database.db).finally(() => database.close());
    try {
      await admin.query(`alter database ${building} rename to ${name}`);
    } catch {
      await admin.query(`drop database if exists ${building}`); // another run finished first
    }
    return name;
  } finally {
    await admin.end();
  }
}

export default async function setup(project: TestProject) {
  const containers = dockerEngineLikely() ? await startContainers() : undefined;
  const postgresUrl = containers?.postgresUrl ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = containers?.redisUrl ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const templateDatabase = await ensureTemplate(postgresUrl);
  project.provide('testServices', { postgresUrl, redisUrl, templateDatabase });
  return async () => {
    for (const stop of stops) await stop();
  };
}
