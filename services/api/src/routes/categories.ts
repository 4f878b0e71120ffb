import { findCategory, listCategories, type Database } from '@lr/db';
import { ALIYUN_TEMPLATE_CODE, CATEGORY_CODE, MAX_LEAD_DAYS, withPreview, type PreviewOptions } from '@lr/domain';
import type { SmsSettings } from '@lr/config';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditActor } from '../audit';
import type { RequireRole } from '../auth';
import { ApiError, notFound } from '../errors';
import { decodeCodeCursor, page, PageQuery } from '../pagination';
import { categoryService, CategoryRefused } from '../services/categories';

const Code = Type.String({ pattern: CATEGORY_CODE.source });
const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength });

const CategoryFields = {
  name: Text(100),
  leadDays: Type.Array(Type.Integer({ minimum: 1, maximum: MAX_LEAD_DAYS }), { minItems: 1, maxItems: MAX_LEAD_DAYS, uniqueItems: true }),
  channels: Type.Array(Type.Union([Type.Literal('sms'), Type.Literal('push')]), { minItems: 1, maxItems: 2, uniqueItems: true }),
  smsTemplate: Text(1000),
  pushTitle: Text(100),
  pushBody: Text(1000),
  renewalUrl: Type.String({ minLength: 1, maxLength: 500, pattern: '^https?://' }),
  consultPhone: Text(40),
  enabled: Type.Boolean(),
  aliyunTemplateCode: Type.Union([Type.String({ pattern: ALIYUN_TEMPLATE_CODE.source }), Type.Null()]),
  aliyunTemplateParams: Type.Union([Type.Record(Type.String({ maxLength: 32 }), Text(200), { maxProperties: 20 }), Type.Null()]),
};

const NewCategory = Type.Object(
  {
    code: Code,
    ...CategoryFields,
    leadDays: Type.Optional(CategoryFields.leadDays),
    enabled: Type.Optional(CategoryFields.enabled),
    aliyunTemplateCode: Type.Optional(CategoryFields.aliyunTemplateCode),
    aliyunTemplateParams: Type.Optional(CategoryFields.aliyunTemplateParams),
  },
  { additionalProperties: false },
);
const CategoryChanges = Type.Partial(Type.Object(CategoryFields, { additionalProperties: false }), {
  additionalProperties: false,
  minProperties: 1,
});

/** A category refused for its fields: a 422 with the contract's code. */
function refused(error: unknown): never {
  if (error instanceof CategoryRefused) throw new ApiError(422, error.code, error.message, error.details);
  throw error;
}

/** `preview.linkBaseUrl`: the address of the service's renewal links, so that the preview counts `{renewalLink}` as sent. */
export function categoryRoutes(
  db: Database,
  requireRole: RequireRole,
  preview: Pick<PreviewOptions, 'linkBaseUrl'>,
  /** SMS_PROVIDER: under `aliyun` a category with the sms channel needs its approved template */
  smsProvider?: SmsSettings['provider'],
): FastifyPluginAsyncTypebox {
  const categories = categoryService({ db, smsProvider });
  return async (app) => {
    app.get(
      '/v1/categories',
      {
        onRequest: requireRole('viewer'),
        schema: { tags: ['categories'], querystring: Type.Object(PageQuery, { additionalProperties: false }) },
      },
      async (request) => {
        const { cursor, limit } = request.query;
        const rows = await listCategories(db, { afterCode: decodeCodeCursor(cursor), limit: limit + 1 });
        return page(rows, limit, (category) => category.code);
      },
    );

    app.get(
      '/v1/categories/:code',
      { onRequest: requireRole('viewer'), schema: { tags: ['categories'], params: Type.Object({ code: Type.String() }) } },
      async (request) => {
        const category = await findCategory(db, request.params.code);
        return category ? withPreview(category, preview) : Promise.reject(notFound('category'));
      },
    );

    app.post(
      '/v1/categories',
      { onRequest: requireRole('admin'), schema: { tags: ['categories'], body: NewCategory } },
      async (request, reply) => {
        const created = await categories.create(request.body, auditActor(request)).catch(refused);
        if (created === 'exists') throw new ApiError(409, 'category_exists', `category ${request.body.code} exists already`);
        return reply.code(201).send(withPreview(created, preview));
      },
    );

    app.patch(
      '/v1/categories/:code',
      {
        onRequest: requireRole('admin'),
        schema: { tags: ['categories'], params: Type.Object({ code: Type.String() }), body: CategoryChanges },
      },
      async (request) => {
        const updated = await categories.update(request.params.code, request.body, auditActor(request)).catch(refused);
        return updated ? withPreview(updated, preview) : Promise.reject(notFound('category'));
      },
    );
  };
}
