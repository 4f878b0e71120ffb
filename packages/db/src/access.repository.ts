import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from './db';

export type Role = 'admin' | 'operator' | 'viewer';

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function generateApiKey(): string {
  return `lr_${randomBytes(24).toString('base64url')}`;
}

/** Stores only the key's hash; the key itself is shown once, to whoever created it. */
export async function createApiKey(db: Database, name: string, role: Role): Promise<{ id: number; key: string }> {
  const key = generateApiKey();
  const row = await db.insertInto('apiKeys').values({ name, role, keyHash: hashApiKey(key) }).returning('id').executeTakeFirstOrThrow();
  return { id: row.id, key };
}

/**
 * The key that is not revoked, if any. The same statement records when the key was last
 * used, at most once a minute per key, so that busy keys do not write on every request.
 */
export function findActiveApiKey(db: Database, key: string) {
  return db
    .with('found', (qb) =>
      qb.selectFrom('apiKeys').select(['id', 'name', 'role']).where('keyHash', '=', hashApiKey(key)).where('revokedAt', 'is', null),
    )
    .with('touched', (qb) =>
      qb
        .updateTable('apiKeys')
        .set({ lastUsedAt: sql<Date>`now()` })
        .from('found')
        .whereRef('apiKeys.id', '=', 'found.id')
        // Checked on the row itself, so that concurrent requests re-check it and skip.
        .where((eb) => eb.or([eb('apiKeys.lastUsedAt', 'is', null), eb('apiKeys.lastUsedAt', '<', sql<Date>`now() - interval '1 minute'`)]))
        .returning('apiKeys.id'),
    )
    .selectFrom('found')
    .select(['found.id', 'found.name', 'found.role'])
    .executeTakeFirst();
}

export interface ApiKeyInfo {
  id: number;
  name: string;
  role: Role;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Every key, oldest first, without its hash. */
export function listApiKeys(db: Database): Promise<ApiKeyInfo[]> {
  return db.selectFrom('apiKeys').select(['id', 'name', 'role', 'createdAt', 'lastUsedAt', 'revokedAt']).orderBy('id').execute();
}

/** Revokes a key; revoking it again keeps the first time. Undefined for an unknown id. */
export function revokeApiKey(db: Database, id: number): Promise<ApiKeyInfo | undefined> {
  return db
    .updateTable('apiKeys')
    .set({ revokedAt: sql<Date>`coalesce(revoked_at, now())` })
    .where('id', '=', id)
    .returning(['id', 'name', 'role', 'createdAt', 'lastUsedAt', 'revokedAt'])
    .executeTakeFirst();
}
