import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, sql, type Migration, type MigrationProvider, type MigrationResult } from 'kysely';
import pg from 'pg';
import type { Database } from './db';
import { RUNS_BUILT } from './built';

// From this source file (packages/db/src), or from the bundle it is built into (dist/, see scripts/build.mjs).
export const MIGRATIONS_DIR = fileURLToPath(new URL(RUNS_BUILT ? '../migrations' : '../../../migrations', import.meta.url));

/** Numbered plain-SQL files, applied in the order of their names. */
export function sqlFileMigrations(dir = MIGRATIONS_DIR): MigrationProvider {
  return {
    async getMigrations() {
      const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
      const migrations: Record<string, Migration> = {};
      for (const file of files) {
        const text = await readFile(path.join(dir, file), 'utf8');
        migrations[file.replace(/\.sql$/, '')] = {
          // No parameters: pg sends it as a simple query, so one file may hold many statements.
          up: async (db) => {
            await sql.raw(text).execute(db);
          },
        };
      }
      return migrations;
    },
  };
}

/**
 * Applies pending migrations. Kysely's migrator takes a PostgreSQL advisory lock,
 * so several processes starting at once apply each migration exactly once.
 */
export async function migrate(db: Database, dir = MIGRATIONS_DIR): Promise<MigrationResult[]> {
  const migrator = new Migrator({ db, provider: sqlFileMigrations(dir) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const cause = error instanceof Error ? error.message : JSON.stringify(error);
    throw new Error(failed ? `migration ${failed.migrationName} failed: ${cause}` : cause, { cause: error });
  }
  return results ?? [];
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`create database ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (error) {
    // Another process created it between our check and our create.
    if ((error as { code?: string }).code === '42P04' || (error as { code?: string }).code === '23505') return false;
    throw error;
  } finally {
    await client.end();
  }
}
