// npm run db:types: regenerates packages/db/src/schema.ts from the migrations.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, ensureDatabase, migrate } from '@lr/db';

const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const url = new URL(server);
url.pathname = `/lr_types_${randomBytes(4).toString('hex')}`;
await ensureDatabase(url.toString());
const database = connect(url.toString(), { max: 1 });
try {
  await migrate(database.db);
  execFileSync('npx', ['kysely-codegen', '--config-file', 'kysely-codegen.json', '--url', url.toString()], {
    cwd: new URL('../packages/db', import.meta.url),
    stdio: 'inherit',
  });
} finally {
  await database.close();
  const admin = connect(server, { max: 1 });
  await admin.pool.query(`drop database ${url.pathname.slice(1)} with (force)`);
  await admin.close();
}
