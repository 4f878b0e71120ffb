import { insertCategory, upsertLicenses, type Database, type IdSealer } from '@lr/db';
import { demoCategories, demoLicenses, validateLicense, type License } from '@lr/domain';

/** Loads the Lushi programme's four categories and a few hundred licences, once, into an empty store. */
export async function loadDemoData(db: Database, sealer: IdSealer, today: string): Promise<{ categories: number; licenses: number } | null> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('categories').select('code').limit(1).execute();
    if (existing.length > 0) return null;
    const categories = demoCategories();
    for (const category of categories) await insertCategory(trx, category);
    const licenses = demoLicenses(today).map((input) => {
      const result = validateLicense(input);
      if (!result.ok) throw new Error(`demo licence ${input.licenseNo} is invalid: ${JSON.stringify(result.errors)}`);
      return result.license;
    });
    await upsertLicenses(trx, sealer, licenses satisfies License[]);
    return { categories: categories.length, licenses: licenses.length };
  });
}
