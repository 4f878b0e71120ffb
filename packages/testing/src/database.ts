import { randomBytes } from 'node:crypto';
import { connect, type DatabaseHandle } from '@lr/db';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrl } from './services';

export interface TestDatabase extends DatabaseHandle {
  url: string;
  /** closes the pool and drops the database */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('testServices').postgresUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database, cloned from the template in milliseconds. */
export async function freshDatabase(): Promise<TestDatabase> {
  const { postgresUrl, templateDatabase } = inject('testServices');
  const name = `lr_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name} template ${templateDatabase}`));
  const url = databaseUrl(postgresUrl, name);
  const handle = connect(url, { max: 5 });
  return {
    ...handle,
    url,
    async drop() {
      await handle.close();
      await admin((c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/** An empty database, for tests of the migrations themselves. */
export async function emptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `lr_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  return {
    url: databaseUrl(inject('testServices').postgresUrl, name),
    drop: () => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}
