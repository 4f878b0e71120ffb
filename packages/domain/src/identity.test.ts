import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import {
  creditCodeCheckChar,
  isRegionCode,
  isValidCreditCode,
  isValidResidentId,
  normalizeMobile,
  residentIdCheckChar,
} from './identity';

describe('mainland mobile numbers', () => {
  it('agrees with the full libphonenumber parser on 20,000 random 11-digit numbers', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    for (let i = 0; i < 20_000; i++) {
      const digits = `1${String(next()).padStart(10, '0').slice(-10)}`;
      const parsed = parsePhoneNumberFromString(digits, 'CN');
      const expected = parsed?.isValid() && parsed.country === 'CN' && parsed.getType() === 'MOBILE' ? parsed.number : null;
      expect(normalizeMobile(digits), digits).toBe(expected);
      expect(normalizeMobile(`+86 ${digits}`), digits).toBe(expected);
    }
  });

  it('accepts a mobile with or without +86, spaces or hyphens, and gives E.164', () => {
    expect(normalizeMobile('+86 138-0013-8000')).toBe('+8613800138000');
    expect(normalizeMobile('13800138000')).toBe('+8613800138000');
    expect(normalizeMobile('+8613800138000')).toBe('+8613800138000');
    expect(normalizeMobile(' 139 3981 2345 ')).toBe('+8613939812345');
    expect(normalizeMobile('199-1234-5678')).toBe('+8619912345678');
  });

  it('rejects numbers that are not mainland mobiles', () => {
    expect(normalizeMobile('12345678901')).toBeNull();
    expect(normalizeMobile('037112345678')).toBeNull(); // Zhengzhou landline
    expect(normalizeMobile('0398-7123456')).toBeNull(); // Sanmenxia landline
    expect(normalizeMobile('+1 202 555 0123')).toBeNull();
    expect(normalizeMobile('+852 9123 4567')).toBeNull(); // Hong Kong mobile
    expect(normalizeMobile('1380013800')).toBeNull(); // a digit short
    expect(normalizeMobile('138001380001')).toBeNull(); // a digit too many
    expect(normalizeMobile('')).toBeNull();
    expect(normalizeMobile('not a phone')).toBeNull();
  });

  it('rejects a mobile with other text around it or an extension', () => {
    expect(normalizeMobile('13800138000abc')).toBeNull();
    expect(normalizeMobile('tel:+8613800138000')).toBeNull();
    expect(normalizeMobile('138 0013 8000 ext 1')).toBeNull();
  });
});

describe('unified social credit codes (GB 32100-2015)', () => {
  it('accepts known valid codes, verified by hand', () => {
    expect(isValidCreditCode('91350100M000100Y43')).toBe(true);
    expect(isValidCreditCode('91110000600037341L')).toBe(true);
  });

  it('computes the check character, mapping 31 to 0', () => {
    // weighted sum 1640, 1640 mod 31 = 28, 31 - 28 = 3 -> '3'
    expect(creditCodeCheckChar('91350100M000100Y4')).toBe('3');
    // weighted sum 538, 538 mod 31 = 11, 31 - 11 = 20 -> the 21st character of the alphabet, 'L'
    expect(creditCodeCheckChar('91110000600037341')).toBe('L');
    // a body whose weighted sum is a multiple of 31 has the check character '0'
    expect(creditCodeCheckChar('00000000000000000')).toBe('0');
  });

  it('accepts generated codes for Lushi County and rejects a wrong check character', () => {
    for (const body of ['91411224MA9XYW123', '92411224MA40ABCD1', '12411224005012345']) {
      const code = body + creditCodeCheckChar(body);
      expect(isValidCreditCode(code)).toBe(true);
      const wrong = code.slice(0, 17) + (code.endsWith('0') ? '1' : '0');
      expect(isValidCreditCode(wrong)).toBe(false);
    }
    expect(isValidCreditCode('91350100M000100Y44')).toBe(false);
  });

  it('rejects wrong length and characters outside the alphabet', () => {
    expect(isValidCreditCode('91350100M000100Y4')).toBe(false);
    expect(isValidCreditCode('91350100M000100Y433')).toBe(false);
    // I, O, Z, S and V are not used
    expect(isValidCreditCode('91350100I000100Y43')).toBe(false);
    expect(isValidCreditCode('91350100O000100Y43')).toBe(false);
    expect(isValidCreditCode('91350100S000100Y43')).toBe(false);
    expect(isValidCreditCode('')).toBe(false);
  });
});

describe('resident id numbers (GB 11643-1999)', () => {
  const today = '2025-06-01';

  it('accepts known valid numbers, including a final X written in lowercase', () => {
    expect(isValidResidentId('11010519491231002X', today)).toBe(true); // the standard's own example
    expect(isValidResidentId('11010519491231002x', today)).toBe(true);
    expect(isValidResidentId('110101199003074477', today)).toBe(true);
  });

  it('computes the check character', () => {
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
    expect(residentIdCheckChar('11010119900307447')).toBe('7');
  });

  it('rejects a wrong check character', () => {
    expect(isValidResidentId('110105194912310021', today)).toBe(false);
    expect(isValidResidentId('110101199003074478', today)).toBe(false);
  });

  const withBirth = (birth: string): string => {
    const body = `411224${birth}123`;
    return body + residentIdCheckChar(body);
  };

  it('checks that the birth date is a real date', () => {
    expect(isValidResidentId(withBirth('19900230'), today)).toBe(false);
    expect(isValidResidentId(withBirth('20000229'), today)).toBe(true); // 2000 is a leap year
    expect(isValidResidentId(withBirth('19000229'), today)).toBe(false); // 1900 is not
    expect(isValidResidentId(withBirth('19960229'), today)).toBe(true);
    expect(isValidResidentId(withBirth('19991301'), today)).toBe(false);
    expect(isValidResidentId(withBirth('19990100'), today)).toBe(false);
  });

  it('rejects a birth date before 1900 or in the future', () => {
    expect(isValidResidentId('440524188001010014', today)).toBe(false); // the 1999 standard's example: right check character, born 1880
    expect(isValidResidentId(withBirth('20250601'), today)).toBe(true);
    expect(isValidResidentId(withBirth('20250602'), today)).toBe(false);
    expect(isValidResidentId(withBirth('20990101'))).toBe(false);
  });

  it('rejects wrong length and letters other than a final X', () => {
    expect(isValidResidentId('11010519491231002', today)).toBe(false);
    expect(isValidResidentId('11010519491231002XX', today)).toBe(false);
    expect(isValidResidentId('1101051949123100X2', today)).toBe(false);
    expect(isValidResidentId('11010519491231002Y', today)).toBe(false);
  });
});

describe('administrative division codes', () => {
  it('accepts real six-digit codes', () => {
    for (const code of ['411224', '411202', '410102', '110105', '650102', '820000', '710000']) {
      expect(isRegionCode(code)).toBe(true);
    }
  });

  it('rejects codes of the wrong shape or an unknown province', () => {
    for (const code of ['41122', '4112240', '011224', '4112a4', '', '161224', '991224', '721224', ' 411224']) {
      expect(isRegionCode(code)).toBe(false);
    }
  });
});
