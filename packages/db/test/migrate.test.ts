import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { emptyDatabase, freshDatabase } from '@lr/testing';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { connect } from '../src/db';
import { migrate } from '../src/migrate';

const run = promisify(execFile);
const DB_PACKAGE = fileURLToPath(new URL('..', import.meta.url));

describe('migrations', () => {
  it('apply each migration exactly once when two processes start at the same time', async () => {
    const empty = await emptyDatabase();
    const a = connect(empty.url, { max: 1 });
    const b = connect(empty.url, { max: 1 });
    try {
      const [ra, rb] = await Promise.all([migrate(a.db), migrate(b.db)]);
      const applied = [...ra, ...rb].map((r) => r.migrationName).sort();
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(a.db);
      expect(applied).toEqual(rows.map((r) => r.name));
      expect(await migrate(a.db)).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await empty.drop();
    }
  });

  it('keep the Kysely types of src/schema.ts in step with the SQL', async () => {
    const database = await freshDatabase();
    try {
      // kysely-codegen --verify fails when the generated types differ from the committed file.
      const result = await run('npx', ['kysely-codegen', '--config-file', 'kysely-codegen.json', '--url', database.url, '--verify'], {
        cwd: DB_PACKAGE,
      }).then(
        () => 'in step',
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
      expect(result, 'run `npm run db:types` after changing migrations').toBe('in step');
    } finally {
      await database.drop();
    }
  });
});
