import { existingCategoryCodes, listReminders, upsertLicenses, type Database } from '@lr/db';
import { isBusinessDate, LICENSE_FIELDS, maskIdNo, validateLicense, type License } from '@lr/domain';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { ApiError, notFound } from '../errors';
import { decodeCursor, MAX_ID, page, PageQuery } from '../pagination';
import { BusinessDateString } from '../schemas';

export const MAX_BATCH = 10_000;

interface RowError {
  index: number;
  field: string;
  message: string;
}

/**
 * Checks every row of a batch: its own fields, that its category exists, and that
 * no key appears twice. All-or-nothing: the batch is stored only when this is empty.
 */
async function checkBatch(db: Database, rows: unknown[]): Promise<{ licenses: License[]; errors: RowError[] }> {
  const licenses: License[] = [];
  const errors: RowError[] = [];
  const firstIndexOfKey = new Map<string, number>();
  const valid: { index: number; license: License }[] = [];
  rows.forEach((row, index) => {
    const result = validateLicense(row);
    if (!result.ok) {
      errors.push(...result.errors.map((e) => ({ index, ...e })));
      return;
    }
    const key = `${result.license.categoryCode}\u0000${result.license.licenseNo}`;
    const first = firstIndexOfKey.get(key);
    if (first !== undefined) {
      errors.push({ index, field: 'licenseNo', message: `same categoryCode and licenseNo as row ${first}` });
      return;
    }
    firstIndexOfKey.set(key, index);
    valid.push({ index, license: result.license });
  });
  const known = await existingCategoryCodes(db, valid.map((v) => v.license.categoryCode));
  for (const { index, license } of valid) {
    if (known.has(license.categoryCode)) licenses.push(license);
    else errors.push({ index, field: 'categoryCode', message: `unknown category "${license.categoryCode}"` });
  }
  errors.sort((a, b) => a.index - b.index);
  return { licenses, errors };
}

/** Licences leave the API with the holder's id number masked. */
function shown<T extends { holderIdNo: string }>(license: T): T {
  return { ...license, holderIdNo: maskIdNo(license.holderIdNo) };
}

const LICENSE_COLUMNS = ['id', ...LICENSE_FIELDS, 'createdAt', 'updatedAt'] as const;

export function licenseRoutes(db: Database, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/licenses/batch',
      {
        preHandler: requireRole('admin'),
        schema: {
          tags: ['licenses'],
          body: Type.Object(
            { licenses: Type.Array(Type.Unknown(), { maxItems: MAX_BATCH, description: 'licences as in contract.md' }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const { licenses, errors } = await checkBatch(db, request.body.licenses);
        if (errors.length > 0) {
          throw new ApiError(422, 'invalid_licenses', `${new Set(errors.map((e) => e.index)).size} of ${request.body.licenses.length} rows are invalid; nothing was written`, errors);
        }
        return db.transaction().execute((trx) => upsertLicenses(trx, licenses));
      },
    );

    app.get(
      '/v1/licenses',
      {
        preHandler: requireRole('viewer'),
        schema: {
          tags: ['licenses'],
          querystring: Type.Object(
            {
              categoryCode: Type.Optional(Type.String()),
              licenseNo: Type.Optional(Type.String()),
              expiresFrom: Type.Optional(BusinessDateString),
              expiresTo: Type.Optional(BusinessDateString),
              ...PageQuery,
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const q = request.query;
        for (const field of ['expiresFrom', 'expiresTo'] as const) {
          if (q[field] !== undefined && !isBusinessDate(q[field])) {
            throw new ApiError(400, 'invalid_request', `${field} is not a real date`, [{ field, message: 'not a real date' }]);
          }
        }
        const after = decodeCursor(q.cursor);
        const rows = await db
          .selectFrom('licenses')
          .select(LICENSE_COLUMNS)
          .$if(q.categoryCode !== undefined, (b) => b.where('categoryCode', '=', q.categoryCode!))
          .$if(q.licenseNo !== undefined, (b) => b.where('licenseNo', '=', q.licenseNo!))
          .$if(q.expiresFrom !== undefined, (b) => b.where('expiresOn', '>=', q.expiresFrom!))
          .$if(q.expiresTo !== undefined, (b) => b.where('expiresOn', '<=', q.expiresTo!))
          .$if(after !== undefined, (b) => b.where('id', '>', after!))
          .orderBy('id')
          .limit(q.limit + 1)
          .execute();
        return page(rows.map(shown), q.limit);
      },
    );

    app.get(
      '/v1/licenses/:id',
      {
        preHandler: requireRole('viewer'),
        schema: { tags: ['licenses'], params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID }) }) },
      },
      async (request) => {
        const license = await db.selectFrom('licenses').select(LICENSE_COLUMNS).where('id', '=', request.params.id).executeTakeFirst();
        if (!license) throw notFound('licence');
        const [reminders, renewals] = await Promise.all([
          listReminders(db, { licenseId: license.id, limit: 1000 }),
          db.selectFrom('renewals').select(['oldExpiresOn', 'newExpiresOn', 'createdAt']).where('licenseId', '=', license.id).orderBy('id').execute(),
        ]);
        return { ...shown(license), reminders, renewals };
      },
    );
  };
}
