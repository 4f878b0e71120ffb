import { idSealer, upsertLicenses, type Database, type UpsertCounts } from '@lr/db';
/**
 * Test data shared by the database, scan, API and worker tests: valid holder numbers, a
 * licence category and licence rows. Everything here is valid; a test that needs another
 * value passes it as an override.
 */
import {
  creditCodeCheckChar,
  residentIdCheckChar,
  validateLicense,
  type Category,
  type License,
  type LicenseInput,
} from '@lr/domain';

/** FOLLOW_UP_DAYS as the services run by default: the scans of tests open `not_renewed` follow-ups 3 days out. */
export const FOLLOW_UP_DAYS = 3;

/** A resident id number of Lushi County (411224), born 1990-01-01, with its check character. */
export const TEST_RESIDENT_ID = withCheckChar('41122419900101123', residentIdCheckChar);

/** A unified social credit code of Lushi County, with its check character. */
export const TEST_CREDIT_CODE = withCheckChar('91411224MA0000001', creditCodeCheckChar);

/** An enterprise holder: spread it into a licence that belongs to a company. */
export const TEST_ENTERPRISE = {
  holderName: '卢氏县宏达运输有限公司',
  holderType: 'enterprise',
  holderIdNo: TEST_CREDIT_CODE,
} as const satisfies Pick<LicenseInput, 'holderName' | 'holderType' | 'holderIdNo'>;

function withCheckChar(first17: string, checkChar: (first17: string) => string): string {
  return first17 + checkChar(first17);
}

/**
 * A food-business category sending SMS and push 60, 30 and 10 days ahead; its renewal link
 * ends with its code.
 */
export function testCategory(overrides: Partial<Category> = {}): Category {
  const code = overrides.code ?? 'food-business';
  return {
    code,
    name: '食品经营许可证',
    leadDays: [60, 30, 10],
    channels: ['sms', 'push'],
    smsTemplate: '【卢氏县政务服务】{holderName}您好，您的{licenseName}（编号{licenseNo}）将于{expiresOn}到期，还有{daysLeft}天。请登录{renewalUrl}办理，咨询{consultPhone}。',
    pushTitle: '{licenseName}即将到期',
    pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期',
    renewalUrl: `https://www.hnzwfw.gov.cn/renew/${code}`,
    consultPhone: '0398-7856315',
    enabled: true,
    ...overrides,
  };
}

let licenseSeq = 0;

/**
 * A valid licence row as administrators send it: an individual of the food-business
 * category with a mobile phone and no app account, a licence number of its own, and far
 * from expiry, so that scans leave it alone unless told otherwise.
 */
export function testLicense(overrides: Partial<LicenseInput> = {}): LicenseInput {
  licenseSeq += 1;
  return {
    categoryCode: 'food-business',
    licenseNo: `JY1411224${String(licenseSeq).padStart(5, '0')}`,
    holderName: '卢氏县张记面馆',
    holderType: 'individual',
    holderIdNo: TEST_RESIDENT_ID,
    phone: '13800138000',
    platformUserId: null,
    regionCode: '411224',
    validFrom: '2021-04-01',
    expiresOn: '2030-12-31',
    ...overrides,
  };
}

/** The licence as validateLicense stores it (phone in E.164, status set); throws with its errors if it is not valid. */
export function validLicense(input: LicenseInput): License {
  const result = validateLicense(input);
  if (!result.ok) throw new Error(`invalid test licence: ${JSON.stringify(result.errors)}`);
  return result.license;
}

/** The id-number sealer of every test; the API under test gets the same PII_KEY. */
export const TEST_PII_KEY = 'test-pii-key-0123456789abcdef-0123456789';
export const TEST_SEALER = idSealer(Buffer.from(TEST_PII_KEY, 'utf8'));

/** Stores licences as the API does: id numbers sealed, upserted in one transaction. */
export function storeLicenses(db: Database, licenses: License[]): Promise<UpsertCounts> {
  return db.transaction().execute((trx) => upsertLicenses(trx, TEST_SEALER, licenses));
}
