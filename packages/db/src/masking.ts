import { sql, type RawBuilder } from 'kysely';

// The masks of @lr/domain's mask.ts, in SQL, for reports that PostgreSQL writes out itself
// (COPY … TO STDOUT): a row never reaches Node unmasked. test/csv-copy.test.ts holds each
// to its domain function.

/** maskPhone of a stored mobile (`+86` and 11 digits: licenses.phone's check): 138****5678; null stays null. */
export function maskedPhone(phone: RawBuilder<string | null>): RawBuilder<string | null> {
  return sql<string | null>`(substr(${phone}, 4, 3) || '****' || right(${phone}, 4))`;
}

/** maskHolderName: an individual's first character, then a star for each other character; an enterprise's name whole. */
export function maskedHolderName(name: RawBuilder<string>, holderType: RawBuilder<string>): RawBuilder<string> {
  return sql<string>`(case when ${holderType} = 'enterprise' then ${name}
                          else left(${name}, 1) || repeat('*', greatest(char_length(${name}) - 1, 0)) end)`;
}
