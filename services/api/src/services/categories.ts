import {
  cancelUnsentDeliveries,
  findCategoryForUpdate,
  inTransaction,
  insertCategory,
  recordAudit,
  updateCategory,
  type Database,
  type StoredCategory,
} from '@lr/db';
import { DEFAULT_LEAD_DAYS, digestFieldProblems, TEMPLATE_PARAM_TOO_LONG, templateFieldProblems, unknownPlaceholders, type Category } from '@lr/domain';
import type { SmsSettings } from '@lr/config';
import { sendsTemplates } from '@lr/sms';
import type { AuditActor } from '../audit';

export type CategoryChanges = Partial<Omit<Category, 'code'>>;
export type NewCategory = Omit<Category, 'leadDays' | 'enabled'> & Partial<Pick<Category, 'leadDays' | 'enabled'>>;

/** A category refused for what its fields say (the route's 422): `code` is the contract's error code. */
export class CategoryRefused extends Error {
  constructor(
    readonly code: 'unknown_placeholder' | 'sms_template_required' | typeof TEMPLATE_PARAM_TOO_LONG,
    message: string,
    readonly details: { field: string; message: string }[],
  ) {
    super(message);
  }
}

export interface CategoryServiceDeps {
  db: Database;
  /** SMS_PROVIDER: under `aliyun` a category with the sms channel needs its approved template */
  smsProvider?: SmsSettings['provider'];
}

/** An unknown placeholder is refused when the category is saved (docs/rules.md, message text). */
function checkTemplates(fields: CategoryChanges): void {
  const details = [
    ...(['smsTemplate', 'pushTitle', 'pushBody'] as const).flatMap((field) =>
      unknownPlaceholders(fields[field] ?? '').map((name) => ({ field, message: `unknown placeholder {${name}}` })),
    ),
    ...templateFieldProblems(fields),
  ];
  if (details.length > 0) throw new CategoryRefused('unknown_placeholder', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
}

/**
 * Under SMS_PROVIDER=aliyun, carriers take an SMS only as an approved template: a category
 * with the sms channel needs its template's code and variables, and a name and consultPhone
 * that fit the digest template's variables (docs/aliyun.md). A new category is checked
 * whether enabled or not (contract); a change to a disabled one is not, so that one the switch
 * to Alibaba Cloud left without a template can still be disabled (update).
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
    throw new CategoryRefused('sms_template_required', details.map((d) => `${d.field} ${d.message}`).join('; '), details);
  }
  // The digest sends the name and consultPhone as variables: refused now rather than every
  // digest SMS of the category failing later.
  const tooLong = digestFieldProblems(category);
  if (tooLong.length > 0) throw new CategoryRefused(TEMPLATE_PARAM_TOO_LONG, tooLong.map((d) => `${d.field} ${d.message}`).join('; '), tooLong);
}

/** Categories as the API changes them: checked, written with their audit entry, and what a change means applied. */
export function categoryService({ db, smsProvider }: CategoryServiceDeps) {
  return {
    /** Creates a category (default leads and enabled); 'exists' when the code is taken. Throws CategoryRefused. */
    async create(fields: NewCategory, actor: AuditActor): Promise<StoredCategory | 'exists'> {
      checkTemplates(fields);
      const category: Category = { leadDays: [...DEFAULT_LEAD_DAYS], enabled: true, ...fields };
      checkSmsTemplate(category, smsProvider);
      const created = await db.transaction().execute(async (trx) => {
        const stored = await insertCategory(trx, category);
        if (stored) await recordAudit(trx, { ...actor, action: 'category.create', target: `category:${stored.code}`, before: null, after: stored });
        return stored;
      });
      return created ?? 'exists';
    },

    /**
     * Changes a category; undefined when there is none. New lead days apply from the next
     * scan; disabling it cancels its unsent deliveries at once, in the same transaction
     * (docs/rules.md): what is queued for it is not sent. Throws CategoryRefused.
     */
    async update(code: string, changes: CategoryChanges, actor: AuditActor): Promise<StoredCategory | undefined> {
      checkTemplates(changes);
      return inTransaction(db, async (trx) => {
        const before = await findCategoryForUpdate(trx, code);
        if (!before) return undefined;
        const changed = { ...before, ...changes };
        // A disabled category sends nothing; it is checked when it is enabled again.
        if (changed.enabled) checkSmsTemplate(changed, smsProvider);
        const after = await updateCategory(trx, code, changes);
        if (after && changes.enabled === false) await cancelUnsentDeliveries(trx, { categoryCode: code }, 'category disabled');
        await recordAudit(trx, { ...actor, action: 'category.update', target: `category:${before.code}`, before, after });
        return after;
      });
    },
  };
}
