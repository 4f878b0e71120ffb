import { findCategory, findCategoryForUpdate, inTransaction, insertCategory, listCategories, recordAudit, updateCategory, type Database } from '@lr/db';
import {
  ALIYUN_TEMPLATE_CODE,
  CATEGORY_CODE,
  DEFAULT_LEAD_DAYS,
  digestFieldProblems,
  MAX_LEAD_DAYS,
  TEMPLATE_PARAM_TOO_LONG,
  templateFieldProblems,
  unknownPlaceholders,
  withPreview,
  type Category,
  type PreviewOptions,
} from '@lr/domain';
import type { SmsSettings } from '@lr/config';
import { sendsTemplates } from '@lr/sms';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RequireRole } from '../auth';
import { ApiError, notFound } from '../errors';
import { decodeCodeCursor, page, PageQuery } from '../pagination';
import { auditActor } from '../audit';

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

/** An unknown placeholder is rejected when the category is saved (docs/rules.md, message text). */
function checkTemplates(fields: Partial<Static<typeof CategoryChanges>>): void {
  const details = [
    ...(['smsTemplate', 'pushTitle', 'pushBody'] as const).flatMap((field) =>
      unknownPlaceholders(fields[field] ?? '').map((name) => ({ field, message: `unknown placeholder {${name}}` })),
    ),
    ...templateFieldProblems(fields),
  ];
  if (details.length > 0) {
    const message = details.map((d) => `${d.field}: ${d.message}`).join('; ');
    throw new ApiError(422, 'unknown_placeholder', message, details);
  }
}

/**
 * Under SMS_PROVIDER=aliyun, carriers take an SMS only as an approved template: a category
 * with the sms channel needs its template's code and variables, and a name and consultPhone
 * that fit the digest template's variables (docs/aliyun.md).
 */
function checkSmsTemplate(
  category: Pick<Category, 'name' | 'consultPhone' | 'channels' | 'aliyunTemplateCode' | 'aliyunTemplateParams'>,
  smsProvider: SmsSettings['provider'] | undefined,
): void {
  if (smsProvider === undefined || !sendsTemplates(smsProvider) || !category.channels.includes('sms')) return;
  const missing = [
    ...(category.aliyunTemplateCode ? [] : ['aliyunTemplateCode']),
    ...(category.aliyunTemplateParams && Object.keys(category.aliyunTemplateParams).length > 0 ? [] : ['aliyunTemplateParams']),
  ];
  if (missing.length > 0) {
    const details = missing.map((field) => ({ field, message: 'is required for the sms channel when SMS_PROVIDER=aliyun' }));
    throw new ApiError(422, 'sms_template_required', details.map((d) => `${d.field} ${d.message}`).join('; '), details);
  }
  // The digest sends the name and consultPhone as variables: refused now rather than every
  // digest SMS of the category failing later.
  const tooLong = digestFieldProblems(category);
  if (tooLong.length > 0) throw new ApiError(422, TEMPLATE_PARAM_TOO_LONG, tooLong.map((d) => `${d.field} ${d.message}`).join('; '), tooLong);
}

/** `preview.linkBaseUrl`: the address of the service's renewal links, so that the preview counts `{renewalLink}` as sent. */
export function categoryRoutes(
  db: Database,
  requireRole: RequireRole,
  preview: Pick<PreviewOptions, 'linkBaseUrl'>,
  /** SMS_PROVIDER: under `aliyun` a category with the sms channel needs its approved template */
  smsProvider?: SmsSettings['provider'],
): FastifyPluginAsyncTypebox {
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
        checkTemplates(request.body);
        const category: Category = { leadDays: [...DEFAULT_LEAD_DAYS], enabled: true, ...request.body };
        checkSmsTemplate(category, smsProvider);
        const created = await db.transaction().execute(async (trx) => {
          const stored = await insertCategory(trx, category);
          if (stored) {
            await recordAudit(trx, { ...auditActor(request), action: 'category.create', target: `category:${stored.code}`, before: null, after: stored });
          }
          return stored;
        });
        if (!created) throw new ApiError(409, 'category_exists', `category ${category.code} exists already`);
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
        checkTemplates(request.body);
        const updated = await inTransaction(db, async (trx) => {
          const before = await findCategoryForUpdate(trx, request.params.code);
          if (!before) return undefined;
          checkSmsTemplate({ ...before, ...request.body }, smsProvider);
          const after = await updateCategory(trx, request.params.code, request.body);
          await recordAudit(trx, { ...auditActor(request), action: 'category.update', target: `category:${before.code}`, before, after });
          return after;
        });
        return updated ? withPreview(updated, preview) : Promise.reject(notFound('category'));
      },
    );
  };
}
