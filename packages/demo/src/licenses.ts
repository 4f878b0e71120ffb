/**
 * Demo licences: a deterministic set of realistic licences around a given day, of the demo
 * categories. Names, numbers and phones are invented; id numbers and credit codes carry
 * correct check characters.
 */
import {
  addDays,
  creditCodeCheckChar,
  daysBetween,
  isBusinessDate,
  normalizeMobile,
  residentIdCheckChar,
  type HolderType,
  type LicenseInput,
  type LicenseStatus,
} from '@lr/domain';
import type { DemoCategoryCode } from './categories';
import { seededRandom, type SeededRandom } from './seeded-random';

/** The same day `years` earlier or later; 29 February becomes 28 February in other years. */
function addYears(date: string, years: number): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const lastDay = new Date(Date.UTC(year + years, month, 0)).getUTCDate();
  return new Date(Date.UTC(year + years, month - 1, Math.min(day, lastDay))).toISOString().slice(0, 10);
}

/** Sanmenxia (三门峡) divisions, Lushi County first and most frequent; the name used in business names. */
const REGIONS: readonly (readonly [code: string, name: string, weight: number])[] = [
  ['411224', '卢氏县', 80],
  ['411202', '三门峡市湖滨区', 5],
  ['411203', '三门峡市陕州区', 4],
  ['411221', '渑池县', 4],
  ['411281', '义马市', 3],
  ['411282', '灵宝市', 4],
];

const REGION_WEIGHTS = REGIONS.map(([code, name, weight]) => [[code, name] as const, weight] as const);

/** Townships and landmarks of Lushi County, and words businesses like in their names. */
const PLACES = [
  '杜关', '官道口', '五里川', '朱阳关', '汤河', '狮子坪', '双槐树', '横涧', '文峪', '范里',
  '东明', '潘河', '木桐', '瓦窑沟', '徐家湾', '沙河', '双龙湾', '玉皇山', '熊耳山', '洛河',
];
const TRADE_WORDS = [
  '鑫源', '华丰', '兴旺', '顺达', '福满', '恒通', '金穗', '山珍', '豫西', '康源',
  '宏远', '聚福', '瑞丰', '百合', '绿野', '嘉禾', '永盛', '天成', '众鑫', '和顺',
];

/**
 * The kinds of enterprise that hold each category, with the first two characters of their credit
 * code: 91 a company, 92 a registered 个体工商户, 93 a farmers' cooperative.
 */
const ENTERPRISE_KINDS: Record<DemoCategoryCode, readonly (readonly [kind: string, registration: '91' | '92' | '93'])[]> = {
  'food-business': [
    ['餐饮有限公司', '91'],
    ['农家乐', '92'],
    ['生鲜超市有限公司', '91'],
    ['食品有限公司', '91'],
    ['饭店有限公司', '91'],
    ['商贸有限公司', '91'],
  ],
  'public-hygiene': [
    ['宾馆有限公司', '91'],
    ['大酒店有限公司', '91'],
    ['快捷酒店', '92'],
    ['洗浴中心', '92'],
    ['民宿有限公司', '91'],
  ],
  'water-abstraction': [
    ['自来水有限公司', '91'],
    ['食用菌开发有限公司', '91'],
    ['生态农业开发有限公司', '91'],
    ['矿业有限公司', '91'],
    ['养殖专业合作社', '93'],
  ],
  'road-transport': [
    ['运输有限公司', '91'],
    ['物流有限公司', '91'],
    ['汽车运输有限公司', '91'],
    ['客运有限公司', '91'],
  ],
  // held by officers, never by an enterprise
  'enforcement-cert-review': [],
};

const SURNAMES = [
  '王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '马', '朱', '胡', '郭', '何', '高',
  '罗', '郑', '梁', '谢', '宋', '韩', '冯', '邓', '曹', '彭', '田', '董', '袁', '潘', '杜', '程', '苏', '魏',
  '吕', '丁', '任', '姚', '卢', '崔', '范', '贾', '付', '孟', '秦', '闫', '段', '雷', '侯', '史', '贺', '郝',
];
const MALE_NAMES = [
  '建国', '建军', '国强', '志强', '伟', '军', '卫东', '海涛', '振华', '新民', '长青', '保平', '胜利', '书林',
  '东升', '永刚', '小龙', '浩', '鹏', '红军', '德胜', '富贵', '铁柱', '明亮', '金锁', '留成', '二虎', '文斌',
];
const FEMALE_NAMES = [
  '秀英', '桂兰', '玉兰', '秀兰', '丽', '娟', '红霞', '艳芳', '翠花', '金凤', '春梅', '丽娜', '静', '敏',
  '晓燕', '玉梅', '素琴', '爱菊', '巧玲', '彩霞', '小红', '丽萍',
];

/** Mobile prefixes of the three carriers (and their sub-brands) in use in Henan. */
const MOBILE_PREFIXES = [
  '134', '135', '136', '137', '138', '139', '150', '151', '152', '157', '158', '159', '182', '183', '184', '187',
  '188', '198', '130', '131', '132', '155', '156', '166', '185', '186', '133', '153', '173', '177', '180', '181',
  '189', '199',
];

/** Characters of a credit code's organisation part (GB 32100-2015 alphabet). */
const CREDIT_CHARS = '0123456789ABCDEFGHJKLMNPQRTUWXY';

/** Term of a licence, in years, by category: an enforcement certificate is reviewed every year. */
const TERM_YEARS: Record<DemoCategoryCode, readonly number[]> = {
  'food-business': [5],
  'public-hygiene': [4],
  'water-abstraction': [5, 10],
  'road-transport': [4, 6],
  'enforcement-cert-review': [1],
};

/** Years since an officer's certificate was issued, reviewed every year since. */
const CERTIFICATE_AGES = [1, 2, 3, 4, 5, 6, 7, 8];

/** Codes of the county's law-enforcement agencies, which number their officers' certificates. */
const ENFORCEMENT_AGENCIES = ['003', '005', '011', '012', '016', '021', '024', '031'];

/** How often each category appears, and how often its holder is an individual. */
const CATEGORY_MIX: readonly (readonly [DemoCategoryCode, number])[] = [
  ['food-business', 40],
  ['public-hygiene', 22],
  ['water-abstraction', 10],
  ['road-transport', 28],
  ['enforcement-cert-review', 15],
];
const INDIVIDUAL_SHARE: Record<DemoCategoryCode, number> = {
  'food-business': 0.55,
  'public-hygiene': 0.4,
  'water-abstraction': 0.15,
  'road-transport': 0.65,
  'enforcement-cert-review': 1,
};

/** Enterprises that serve meals and have rooms or a public space: they hold food and hygiene licences. */
const HOSPITALITY = /餐饮|饭店|农家乐|宾馆|酒店|民宿/;

/** Days out of the first licences due within 60 days, so each lead day is hit exactly. */
const EXACT_DAYS_LEFT = [60, 30, 10, 0, 60, 30, 10, 0];

interface Holder {
  holderType: HolderType;
  holderName: string;
  holderIdNo: string;
  phone: string | null;
  platformUserId: string | null;
  regionCode: string;
}

/** How a new holder can be reached: `undefined` leaves it to chance (most have a phone, about 60% an app account). */
export interface DemoContact {
  phone?: boolean;
  app?: boolean;
}

/** A value `make` gives that is not in `used` yet, then noted there. */
function unique(used: Set<string>, make: () => string): string {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const value = make();
    if (!used.has(value)) {
      used.add(value);
      return value;
    }
  }
  throw new Error('demo data: ran out of unique values');
}

/** The licence after its renewal: a new term from its old expiry date on; a certificate's next review a year on. */
export function renewedDemoLicense(license: LicenseInput): LicenseInput {
  const cat = license.categoryCode as DemoCategoryCode;
  if (cat === 'enforcement-cert-review') return { ...license, expiresOn: addYears(license.expiresOn, 1) };
  const years = Math.round(daysBetween(license.validFrom, license.expiresOn) / 365);
  return { ...license, validFrom: addDays(license.expiresOn, 1), expiresOn: addYears(license.expiresOn, years) };
}

export interface DemoLicenseMaker {
  /** the maker's random source, which its caller may draw from too: the draws follow one another */
  rnd: SeededRandom;
  /**
   * A licence of `cat` that expires on `expiresOn`. Its holder is new, or (one time in seven,
   * hotels and restaurants) an enterprise that holds the other hospitality licence; a new
   * holder's contact follows `contact`.
   */
  license(cat: DemoCategoryCode, expiresOn: string, status?: LicenseStatus, contact?: DemoContact): LicenseInput;
}

/**
 * Makes realistic licences one at a time, every holder, id number, phone, app account and
 * licence number distinct from those made before by the same maker.
 */
export function demoLicenseMaker(seed = 0x4c55_5348 /* 'LUSH' */): DemoLicenseMaker {
  const rnd = seededRandom(seed);
  const usedIds = new Set<string>();
  const usedPhones = new Set<string>();
  const usedUserIds = new Set<string>();
  const usedNames = new Set<string>();
  const nextSeq: Record<DemoCategoryCode, number> = {
    'food-business': rnd.int(100, 900),
    'public-hygiene': rnd.int(10, 90),
    'water-abstraction': rnd.int(10, 60),
    'road-transport': rnd.int(100, 900),
    'enforcement-cert-review': rnd.int(100, 400),
  };
  /**
   * Hotels and restaurants hold both a food and a hygiene licence: the hospitality enterprises
   * that so far hold only one of them, by the category they still lack.
   */
  const lacking: Record<'food-business' | 'public-hygiene', Holder[]> = { 'food-business': [], 'public-hygiene': [] };

  function newPhone(wanted: boolean | undefined): string | null {
    if (wanted === false || (wanted === undefined && rnd.float() < 0.05)) return null;
    return unique(usedPhones, () => {
      for (;;) {
        const phone = rnd.pick(MOBILE_PREFIXES) + rnd.digits(8);
        if (normalizeMobile(phone) !== null) return phone;
      }
    });
  }

  function newUserId(wanted: boolean | undefined): string | null {
    if (wanted === false || (wanted === undefined && rnd.float() >= 0.6)) return null;
    return unique(usedUserIds, () => `hn-app-${rnd.int(1, 9)}${rnd.digits(9)}`);
  }

  function newEnterprise(cat: DemoCategoryCode, regionCode: string, regionName: string, contact: DemoContact): Holder {
    const [kind, registration] = rnd.pick(ENTERPRISE_KINDS[cat]);
    // Townships only in Lushi County's own businesses; once the names run out, branches.
    const place = (): string => (regionCode === '411224' ? rnd.pick(PLACES) : rnd.pick(TRADE_WORDS));
    let holderName = `${regionName}${place()}${rnd.pick(TRADE_WORDS)}${kind}`;
    for (let attempt = 0; usedNames.has(holderName) && attempt < 20; attempt++) {
      holderName = `${regionName}${place()}${rnd.pick(TRADE_WORDS)}${kind}`;
    }
    for (let branch = 2; usedNames.has(holderName); branch++) {
      holderName = `${regionName}${place()}${rnd.pick(TRADE_WORDS)}${kind}第${branch}分店`;
    }
    usedNames.add(holderName);
    const holderIdNo = unique(usedIds, () => {
      const org =
        rnd.float() < 0.75
          ? `MA${rnd.pick(['40', '44', '45', '46'])}${rnd.chars(CREDIT_CHARS, 5)}` // codes issued since 2015
          : `${rnd.digits(8)}${rnd.chars('0123456789X', 1)}`; // an older organisation code carried over
      const body = `${registration}${regionCode}${org}`;
      return body + creditCodeCheckChar(body);
    });
    return newHolder('enterprise', holderName, holderIdNo, regionCode, contact);
  }

  function newIndividual(regionCode: string, contact: DemoContact): Holder {
    const male = rnd.float() < 0.55;
    const holderName = rnd.pick(SURNAMES) + rnd.pick(male ? MALE_NAMES : FEMALE_NAMES);
    const holderIdNo = unique(usedIds, () => {
      const birth = addDays('1960-01-01', rnd.int(0, daysBetween('1960-01-01', '2000-12-31')));
      const sequence = `${rnd.digits(2)}${2 * rnd.int(0, 4) + (male ? 1 : 0)}`; // odd for men, even for women
      const body = `${regionCode}${birth.replaceAll('-', '')}${sequence}`;
      return body + residentIdCheckChar(body);
    });
    return newHolder('individual', holderName, holderIdNo, regionCode, contact);
  }

  /** A holder with the phone and app account `contact` says it has, each its own. */
  function newHolder(holderType: HolderType, holderName: string, holderIdNo: string, regionCode: string, contact: DemoContact): Holder {
    return { holderType, holderName, holderIdNo, phone: newPhone(contact.phone), platformUserId: newUserId(contact.app), regionCode };
  }

  function reusableEnterprise(cat: DemoCategoryCode): Holder | undefined {
    if (cat !== 'food-business' && cat !== 'public-hygiene') return undefined;
    const candidates = lacking[cat];
    if (candidates.length === 0) return undefined;
    const index = rnd.int(0, candidates.length - 1);
    const [holder] = candidates.splice(index, 1);
    return holder;
  }

  function noteHospitality(holder: Holder, cat: DemoCategoryCode): void {
    if (holder.holderType !== 'enterprise' || !HOSPITALITY.test(holder.holderName)) return;
    if (cat === 'food-business') lacking['public-hygiene'].push(holder);
    if (cat === 'public-hygiene') lacking['food-business'].push(holder);
  }

  function licenseNo(cat: DemoCategoryCode, regionCode: string, validFrom: string, holder: Holder): string {
    nextSeq[cat] += rnd.int(1, 7);
    const seq = nextSeq[cat];
    const year = validFrom.slice(0, 4);
    switch (cat) {
      case 'food-business': {
        // JY + main business type (1 food sales, 2 catering) + region + 7-digit sequence
        const type = /超市|商贸|食品/.test(holder.holderName) ? '1' : '2';
        return `JY${type}${regionCode}${String(seq).padStart(7, '0')}`;
      }
      case 'public-hygiene':
        return `豫卫公证字〔${year}〕第${regionCode}${String(seq).padStart(4, '0')}号`;
      case 'water-abstraction':
        return `D${regionCode}${rnd.pick(['S', 'G'])}${year}-${String(seq).padStart(4, '0')}`;
      case 'road-transport':
        return `豫交运管许可三字${regionCode}${String(seq).padStart(6, '0')}号`;
      case 'enforcement-cert-review':
        // region + issuing agency + 5-digit sequence
        return `${regionCode}${rnd.pick(ENFORCEMENT_AGENCIES)}${String(seq).padStart(5, '0')}`;
    }
  }

  function license(cat: DemoCategoryCode, expiresOn: string, status: LicenseStatus = 'active', contact: DemoContact = {}): LicenseInput {
    const validFrom =
      cat === 'enforcement-cert-review'
        ? addDays(addYears(expiresOn, -rnd.pick(CERTIFICATE_AGES)), 1) // issued then, reviewed every year since
        : addDays(addYears(expiresOn, -rnd.pick(TERM_YEARS[cat])), 1);
    let holder = rnd.float() < 0.15 && contact.phone === undefined && contact.app === undefined ? reusableEnterprise(cat) : undefined;
    if (!holder) {
      const [regionCode, regionName] = rnd.weighted(REGION_WEIGHTS);
      holder = rnd.float() < INDIVIDUAL_SHARE[cat] ? newIndividual(regionCode, contact) : newEnterprise(cat, regionCode, regionName, contact);
      noteHospitality(holder, cat);
    }
    return {
      categoryCode: cat,
      licenseNo: licenseNo(cat, holder.regionCode, validFrom, holder),
      holderName: holder.holderName,
      holderType: holder.holderType,
      holderIdNo: holder.holderIdNo,
      phone: holder.phone,
      platformUserId: holder.platformUserId,
      regionCode: holder.regionCode,
      validFrom,
      expiresOn,
      status,
    };
  }

  return { rnd, license };
}

/**
 * `count` realistic licences of the demo categories, made by `maker`: its next `count`.
 * Expiry dates run from `today` - 30 days to `today` + 3 years (a certificate's review
 * within the year); every fifth licence is due within 60 days (the first eight exactly 60,
 * 30, 10 and 0 days out), one in twenty has just expired, a few are revoked. Some
 * enterprises hold both a food and a hygiene licence (hotels with a restaurant), so one
 * phone can receive reminders for several licences.
 */
export function demoLicensesOf(maker: DemoLicenseMaker, today: string, count = 300): LicenseInput[] {
  if (!Number.isInteger(count) || count < 0) throw new Error('count must be a whole number >= 0');
  if (!isBusinessDate(today)) throw new Error(`today must be a date, YYYY-MM-DD: ${today}`);
  const { rnd } = maker;
  const licenses: LicenseInput[] = [];
  let nearDue = 0;
  for (let i = 0; i < count; i++) {
    const cat = rnd.weighted(CATEGORY_MIX);
    // When it expires, as days from today.
    let daysLeft: number;
    if (i % 5 === 0) daysLeft = EXACT_DAYS_LEFT[nearDue++] ?? rnd.int(0, 60);
    else if (i % 20 === 3) daysLeft = -rnd.int(1, 30);
    else daysLeft = rnd.int(61, cat === 'enforcement-cert-review' ? 365 : 3 * 365);
    const status = i % 50 === 7 || i % 100 === 55 ? 'revoked' : 'active';
    licenses.push(maker.license(cat, addDays(today, daysLeft), status));
  }
  return licenses;
}

/** `count` realistic licences around `today` (demoLicensesOf), the same for the same arguments. */
export function demoLicenses(today: string, count = 300): LicenseInput[] {
  return demoLicensesOf(demoLicenseMaker(), today, count);
}
