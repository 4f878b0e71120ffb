import type { RawBuilder } from 'kysely';
import type { Database } from './db';

/**
 * Runs `query` as a named prepared statement: PostgreSQL parses and plans it once per
 * connection, then only binds and executes it. For a statement run very often whose planning
 * costs more than its work (a join of five tables by key). `name` must always go with the
 * same text, which is what a query built from one template with parameters gives.
 *
 * Kysely hands a query's text to pg's `client.query`, which takes a query config (`{ name,
 * text }`) in its place and adds the parameters to it, as csv-copy.ts hands it a COPY stream.
 * The rows come back through Kysely's plugins (camelCase) as any other query's.
 */
export async function executePrepared<R>(db: Database, name: string, query: RawBuilder<R>): Promise<R[]> {
  const compiled = query.compile(db);
  const { rows } = await db.executeQuery<R>({ ...compiled, sql: { name, text: compiled.sql } as unknown as string });
  return rows;
}
