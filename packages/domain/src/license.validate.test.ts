import { describe, expect, it } from 'vitest';
import { creditCodeCheckChar, residentIdCheckChar } from './identity';
import { validateLicense } from './license.validate';
import type { FieldError } from './types';

const enterprise = {
  categoryCode: 'food-business',
  licenseNo: 'JY14112240012345',
  holderName: '卢氏县山珍餐饮有限公司',
  holderType: 'enterprise',
  holderIdNo: '91350100M000100Y43',
  phone: '+86 138-0013-8000',
  platformUserId: 'hn-app-10086',
  regionCode: '411224',
  validFrom: '2021-03-15',
  expiresOn: '2026-03-14',
  status: 'active',
};

const individualBody = '41122419850315102';
const individual = {
  categoryCode: 'road-transport',
  licenseNo: '豫交运管许可三字411224000123号',
  holderName: '张建国',
  holderType: 'individual',
  holderIdNo: individualBody + residentIdCheckChar(individualBody),
  regionCode: '411224',
  validFrom: '2022-01-01',
  expiresOn: '2026-01-01',
};

function errorsOf(input: unknown): FieldError[] {
  const result = validateLicense(input);
  if (result.ok) throw new Error('expected the row to be rejected');
  return result.errors;
}

function fieldsOf(input: unknown): string[] {
  return errorsOf(input).map((e) => e.field);
}

describe('validateLicense', () => {
  it('accepts a complete enterprise licence and stores the phone in E.164', () => {
    const result = validateLicense(enterprise);
    expect(result).toEqual({
      ok: true,
      license: { ...enterprise, phone: '+8613800138000' },
    });
  });

  it('accepts an individual with only the required fields and fills in the defaults', () => {
    const result = validateLicense(individual);
    expect(result).toEqual({
      ok: true,
      license: { ...individual, phone: null, platformUserId: null, status: 'active' },
    });
  });

  it('accepts an enterprise with a generated credit code of Lushi County', () => {
    const body = '91411224MA40K8QN1';
    const result = validateLicense({ ...enterprise, holderIdNo: body + creditCodeCheckChar(body) });
    expect(result.ok).toBe(true);
  });

  it('trims strings, treats empty optional fields as absent and upper-cases a final x', () => {
    const body = '41122420000229401';
    const check = residentIdCheckChar(body);
    const result = validateLicense({
      ...individual,
      licenseNo: '  JY14112240099999 ',
      holderName: ' 李秀英 ',
      holderIdNo: ` ${body}${check.toLowerCase()} `,
      phone: '',
      platformUserId: '',
      status: ' revoked ',
    });
    expect(result.ok && result.license).toMatchObject({
      licenseNo: 'JY14112240099999',
      holderName: '李秀英',
      holderIdNo: body + check,
      phone: null,
      platformUserId: null,
      status: 'revoked',
    });
  });

  it('accepts null for the optional fields', () => {
    const result = validateLicense({ ...individual, phone: null, platformUserId: null, status: null });
    expect(result.ok).toBe(true);
  });

  it('rejects anything that is not an object', () => {
    for (const junk of [null, undefined, 42, 'licence', [], [enterprise], true]) {
      const errors = errorsOf(junk);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.message).toMatch(/object/);
    }
  });

  it('reports every missing field of an empty row', () => {
    expect(fieldsOf({}).sort()).toEqual(
      ['categoryCode', 'licenseNo', 'holderName', 'holderType', 'holderIdNo', 'regionCode', 'validFrom', 'expiresOn'].sort(),
    );
  });

  it('reports an unknown field by name', () => {
    expect(errorsOf({ ...enterprise, holder_name: 'x', remark: '' })).toEqual([
      { field: 'holder_name', message: 'unknown field' },
      { field: 'remark', message: 'unknown field' },
    ]);
  });

  it('lists every error of a bad row, not just the first', () => {
    const errors = errorsOf({
      categoryCode: 'Food_Business',
      licenseNo: '   ',
      holderName: 'x'.repeat(201),
      holderType: 'company',
      holderIdNo: '123',
      phone: '12345678901',
      platformUserId: 'u'.repeat(129),
      regionCode: '999999',
      validFrom: '2023-02-29',
      expiresOn: '2025/01/01',
      status: 'expired',
      extra: 1,
    });
    expect(errors.map((e) => e.field).sort()).toEqual(
      [
        'categoryCode',
        'licenseNo',
        'holderName',
        'holderType',
        'holderIdNo',
        'phone',
        'platformUserId',
        'regionCode',
        'validFrom',
        'expiresOn',
        'status',
        'extra',
      ].sort(),
    );
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
  });

  it('reports fields of the wrong type', () => {
    const errors = errorsOf({ ...enterprise, licenseNo: 12345, phone: 13800138000, regionCode: 411224, status: true });
    expect(errors).toEqual([
      { field: 'licenseNo', message: 'must be a string' },
      { field: 'phone', message: 'must be a string' },
      { field: 'regionCode', message: 'must be a string' },
      { field: 'status', message: 'must be a string' },
    ]);
  });

  it('rejects a phone that is not a mainland mobile', () => {
    for (const phone of ['12345678901', '037112345678', '0398-7123456', '+1 202 555 0123']) {
      expect(errorsOf({ ...enterprise, phone })).toEqual([{ field: 'phone', message: 'not a mainland China mobile number' }]);
    }
  });

  it('says which kind of id number the holder type needs', () => {
    // a valid resident id given for an enterprise
    const [forEnterprise] = errorsOf({ ...enterprise, holderIdNo: individual.holderIdNo });
    expect(forEnterprise?.field).toBe('holderIdNo');
    expect(forEnterprise?.message).toMatch(/credit code/);
    // a valid credit code given for an individual
    const [forIndividual] = errorsOf({ ...individual, holderIdNo: enterprise.holderIdNo });
    expect(forIndividual?.field).toBe('holderIdNo');
    expect(forIndividual?.message).toMatch(/resident id/);
  });

  it('rejects a wrong check character and an impossible birth date', () => {
    expect(fieldsOf({ ...enterprise, holderIdNo: '91350100M000100Y44' })).toEqual(['holderIdNo']);
    const feb30 = '41122419900230101';
    expect(errorsOf({ ...individual, holderIdNo: feb30 + residentIdCheckChar(feb30) })).toEqual([
      { field: 'holderIdNo', message: expect.stringMatching(/birth date/) },
    ]);
  });

  it('rejects an expiry before the start, on expiresOn', () => {
    expect(errorsOf({ ...enterprise, validFrom: '2026-03-15', expiresOn: '2026-03-14' })).toEqual([
      { field: 'expiresOn', message: 'must not be before validFrom' },
    ]);
    expect(validateLicense({ ...enterprise, validFrom: '2026-03-14', expiresOn: '2026-03-14' }).ok).toBe(true);
  });

  it('limits the lengths of the free-text fields', () => {
    expect(validateLicense({ ...enterprise, licenseNo: 'N'.repeat(64) }).ok).toBe(true);
    expect(fieldsOf({ ...enterprise, licenseNo: 'N'.repeat(65) })).toEqual(['licenseNo']);
    expect(validateLicense({ ...enterprise, holderName: '卢'.repeat(200) }).ok).toBe(true);
    expect(fieldsOf({ ...enterprise, holderName: '卢'.repeat(201) })).toEqual(['holderName']);
    expect(fieldsOf({ ...enterprise, holderName: '卢氏\n宾馆' })).toEqual(['holderName']);
  });

  it('does not check whether the category exists', () => {
    expect(validateLicense({ ...enterprise, categoryCode: 'no-such-category' }).ok).toBe(true);
  });
});
