import { CATEGORY_CODE, isBusinessDate } from '@lr/domain';
import { Type } from '@sinclair/typebox';
import { ApiError } from './errors';

export const PageQuery = {
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
};

/** Ids are PostgreSQL integers. */
export const MAX_ID = 2_147_483_647;

/** Cursors are opaque to clients: the key (id or code) of the last row of the previous page, encoded. */
const encodeCursor = (key: string) => Buffer.from(key).toString('base64url');
const invalidCursor = () => new ApiError(400, 'invalid_cursor', 'cursor is not one this API gave out');

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const id = Number(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw invalidCursor();
  return id;
}

/** A cursor of a list ordered by category code. */
export function decodeCodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const code = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!CATEGORY_CODE.test(code)) throw invalidCursor();
  return code;
}

/** A cursor of a list ordered by a date, then id: `YYYY-MM-DD/id`. */
export function decodeDateIdCursor(cursor: string | undefined): { date: string; id: number } | undefined {
  if (cursor === undefined) return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})\/(\d{1,10})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || !isBusinessDate(match[1]!) || Number(match[2]) > MAX_ID) throw invalidCursor();
  return { date: match[1]!, id: Number(match[2]) };
}

/**
 * `rows` were fetched with limit + 1, so a next page exists exactly when one row too many
 * came back. The cursor is the key of the page's last row: its id, or what `keyOf` says.
 */
export function page<T extends { id: number }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null };
export function page<T>(rows: T[], limit: number, keyOf: (row: T) => string): { items: T[]; nextCursor: string | null };
export function page<T>(rows: T[], limit: number, keyOf = (row: T) => String((row as { id: number }).id)) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
