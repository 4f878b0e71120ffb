import { createHash, randomBytes } from 'node:crypto';
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

export function findActiveApiKey(db: Database, key: string) {
  return db
    .selectFrom('apiKeys')
    .select(['id', 'name', 'role'])
    .where('keyHash', '=', hashApiKey(key))
    .where('revokedAt', 'is', null)
    .executeTakeFirst();
}
