import { freshDatabase, type TestDatabase } from '@lr/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type DatabaseHandle } from '../src/db';
import { SCAN_LOCK, withScanLock } from '../src/scan.repository';

let database: TestDatabase;
let handle: DatabaseHandle;
/** Another process's session, as a second scheduler replica would hold. */
let other: pg.Client;

beforeAll(async () => {
  database = await freshDatabase();
  handle = connect(database.url, { max: 2 });
  other = new pg.Client({ connectionString: database.url });
  await other.connect();
});

afterAll(async () => {
  await other?.end();
  await handle?.close();
  await database?.drop();
});

/** Whether another session could take the scan lock now (and lets it go again at once). */
async function freeForOthers(): Promise<boolean> {
  const { rows } = await other.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [SCAN_LOCK]);
  if (rows[0]!.locked) await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
  return rows[0]!.locked;
}

describe('withScanLock', () => {
  it('holds the lock while its work runs, and lets it go after', async () => {
    const held = await withScanLock(handle.db, async () => freeForOthers());
    expect(held).toEqual({ locked: true, value: false });
    expect(await freeForOthers()).toBe(true);
  });

  it('lets the lock go when its work fails, so that the next scan is not refused for good', async () => {
    await expect(withScanLock(handle.db, async () => Promise.reject(new Error('the scan failed')))).rejects.toThrow('the scan failed');
    expect(await freeForOthers()).toBe(true);
    expect(await withScanLock(handle.db, async () => 'ran')).toEqual({ locked: true, value: 'ran' });
  });

  it('does not run its work while another session holds the lock', async () => {
    await other.query('select pg_advisory_lock($1)', [SCAN_LOCK]);
    try {
      let ran = false;
      expect(await withScanLock(handle.db, async () => (ran = true))).toEqual({ locked: false });
      expect(ran).toBe(false);
    } finally {
      await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
    }
  });
});
