import { connect, ensureDatabase, insertCategory, migrate, type DatabaseHandle } from '@lr/db';
import { demoCategories } from '@lr/domain';

/** Drops the benchmark's database, creates it again, migrates it and loads the four demo categories. */
export async function recreateBenchDatabase(databaseUrl: string): Promise<DatabaseHandle> {
  const server = new URL(databaseUrl);
  const name = server.pathname.slice(1);
  server.pathname = '/postgres';
  const admin = connect(server.toString(), { max: 1 });
  await admin.pool.query(`drop database if exists ${name} with (force)`);
  await admin.close();
  await ensureDatabase(databaseUrl);
  const database = connect(databaseUrl, { max: 4 });
  await migrate(database.db);
  for (const category of demoCategories()) await insertCategory(database.db, category);
  return database;
}
