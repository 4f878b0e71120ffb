import { findLicense, licenseRenewals, listLicenses, listReminders, type Database, type IdSealer } from '@lr/db';
import { isBusinessDate } from '@lr/domain';
import type { Counters } from '@lr/jobs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { ApiError, notFound } from '../errors';
import { auditActor } from '../audit';
import { decodeCursor, MAX_ID, page, PageQuery } from '../pagination';
import { MAX_BATCH } from '../limits';
import { BusinessDateString } from '../schemas';
import { licenseService } from '../services/licenses';

/** 10,000 licences of about 400 bytes each, with room to spare. */
const BATCH_BODY_LIMIT = 8 * 1024 * 1024;

export function licenseRoutes(db: Database, sealer: IdSealer, counters: Counters, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  const licenses = licenseService({ db, sealer, counters });
  return async (app) => {
    app.post(
      '/v1/licenses/batch',
      {
        onRequest: requireRole('admin'),
        bodyLimit: BATCH_BODY_LIMIT,
        schema: {
          tags: ['licenses'],
          body: Type.Object(
            { licenses: Type.Array(Type.Unknown(), { maxItems: MAX_BATCH, description: 'licences; their fields are described in docs/api.md' }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const written = await licenses.writeBatch(request.body.licenses, auditActor(request));
        if ('errors' in written) {
          const { errors } = written;
          throw new ApiError(422, 'invalid_licenses', `${new Set(errors.map((e) => e.index)).size} of ${request.body.licenses.length} rows are invalid; nothing was written`, errors);
        }
        return written.counts;
      },
    );

    app.get(
      '/v1/licenses',
      {
        onRequest: requireRole('viewer'),
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
        const { cursor, limit, ...filter } = q;
        const rows = await listLicenses(db, { ...filter, afterId: decodeCursor(cursor), limit: limit + 1 });
        return page(rows, limit);
      },
    );

    app.get(
      '/v1/licenses/:id',
      {
        onRequest: requireRole('viewer'),
        schema: { tags: ['licenses'], params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID }) }) },
      },
      async (request) => {
        const license = await findLicense(db, request.params.id);
        if (!license) throw notFound('licence');
        const [reminders, renewals] = await Promise.all([
          listReminders(db, { licenseId: license.id, limit: 1000 }),
          licenseRenewals(db, license.id),
        ]);
        return { ...license, reminders, renewals };
      },
    );

    app.get(
      '/v1/licenses/:id/contact',
      {
        onRequest: requireRole('operator'),
        schema: {
          tags: ['licenses'],
          description:
            "The licence's phone (E.164) and platform user id, unmasked, for staff who call or message the holder. " +
            'Every read is written to the audit log (licenses.contact.read), with the key that read it.',
          params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID }) }),
        },
      },
      async (request) => {
        const contact = await licenses.contact(request.params.id, auditActor(request));
        if (!contact) throw notFound('licence');
        return contact;
      },
    );
  };
}
