import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { addDays } from '@lr/domain';
import { ageClaim, claimMessage, emptyDatabase, freshDatabase, storeLicenses, testCategory, testLicense, validLicense } from '@lr/testing';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { connect } from '../src/db';
import { insertCategory } from '../src/category.repository';
import { cancelUnsentDeliveries } from '../src/delivery.repository';
import { findMessage, markQueued } from '../src/message.repository';
import { MIGRATIONS_DIR, migrate } from '../src/migrate';
import { createDueReminders } from '../src/reminder.repository';
import { startScan } from '../src/scan.repository';

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

  it('0007 closes messages that workers left sending for over a day, and leaves younger claims to be taken over', async () => {
    // The store as it was before 0007: the migrations up to 0006 only.
    const before = await mkdtemp(path.join(tmpdir(), 'lr-migrations-'));
    const empty = await emptyDatabase();
    const database = connect(empty.url, { max: 2 });
    const { db } = database;
    try {
      for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => f < '0007')) await cp(path.join(MIGRATIONS_DIR, file), path.join(before, file));
      await migrate(db, before);
      // Today's statements read the categories' template columns (0015), which 0007 leaves alone.
      await sql`alter table categories add column aliyun_template_code text, add column aliyun_template_params jsonb`.execute(db);
      const asOf = '2026-03-01';
      await insertCategory(db, testCategory({ code: 'food', leadDays: [10], channels: ['sms'] }));
      // The first phone holds two licences: its message carries two deliveries.
      await storeLicenses(db, ['+8613900139001', '+8613900139002', '+8613900139001'].map((phone, i) =>
        validLicense(testLicense({ categoryCode: 'food', licenseNo: `M-${i}`, phone, expiresOn: addDays(asOf, 10) })),
      ));
      const scanId = await startScan(db, asOf, 'command');
      const { messages } = await db.transaction().execute((trx) =>
        createDueReminders(trx, scanId, asOf, [{ categoryCode: 'food', lead: 10, from: asOf, to: addDays(asOf, 10) }]),
      );
      const [old, recent] = messages.map((m) => m.id);
      await markQueued(db, [old!, recent!]);
      // One of the old message's deliveries was cancelled on its own before the claim.
      const [cancelled] = await db.selectFrom('deliveries').select('id').where('messageId', '=', old!).orderBy('id').execute();
      await cancelUnsentDeliveries(db, { deliveryIds: [cancelled!.id] }, 'licence revoked');
      for (const id of [old!, recent!]) await claimMessage(db, id, 'worker-before-0007', { leaseSeconds: 60, maxClaims: 8 });
      await ageClaim(db, old!, 3 * 86_400);
      await ageClaim(db, recent!, 3 * 3_600);

      // Then 0007 on its own, so that the test still reads 0007's work when later migrations land.
      await cp(path.join(MIGRATIONS_DIR, '0007_sms_delivery.sql'), path.join(before, '0007_sms_delivery.sql'));
      expect((await migrate(db, before)).map((r) => r.migrationName)).toEqual(['0007_sms_delivery']);
      expect(await findMessage(db, old!)).toMatchObject({ status: 'failed', errorCode: 'abandoned' });
      expect(await findMessage(db, recent!)).toMatchObject({ status: 'sending', errorCode: null });
      const { rows } = await sql<{ messageId: number; status: string; cause: string }>`
        select d.message_id, d.status, e.cause from deliveries d join delivery_events e on e.delivery_id = d.id
         where e.status = 'failed'`.execute(db);
      expect(rows).toEqual([{ messageId: old, status: 'failed', cause: 'abandoned: claim older than a day at migration 0007' }]);
      expect(await db.selectFrom('deliveries').select('status').where('id', '=', cancelled!.id).executeTakeFirst()).toEqual({ status: 'cancelled' });
    } finally {
      await database.close();
      await empty.drop();
      await rm(before, { recursive: true, force: true });
    }
  });
});
