import { Type } from '@sinclair/typebox';
import { ApiError } from './errors';

export const PageQuery = {
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
};

/** Ids are PostgreSQL integers. */
export const MAX_ID = 2_147_483_647;

/** Cursors are opaque to clients: the last id of the previous page, encoded. */
export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const id = Number(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API gave out');
  return id;
}

/** `rows` were fetched with limit + 1, so a next page exists exactly when one row too many came back. */
export function page<T extends { id: number }>(rows: T[], limit: number) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? Buffer.from(String(last.id)).toString('base64url') : null };
}
