/**
 * Half a year of the demo's past, as a story to replay day by day: the licences whose cycle
 * came up in it, who could be reached, and when each licensee renewed, late or never. The
 * shape follows Lushi County's report: most licensees are individuals and are reached, and
 * more than nine in ten of those reached renew in time, fewer of those not reached.
 */
import { addDays, type LicenseInput } from '@lr/domain';
import type { DemoCategoryCode } from './categories';
import { demoLicenseMaker, demoLicensesOf, renewedDemoLicense, type DemoContact } from './licenses';
import { seededRandom } from './seeded-random';

/** Days of history before today: about half a year. */
export const HISTORY_DAYS = 182;

/** What the carrier says about an SMS to a phone no longer in use. */
export type DeadPhoneAnswer = 'undelivered' | 'rejected';

export interface DemoHistory {
  /** the first simulated day, today - HISTORY_DAYS; the last is the day before today */
  firstDay: string;
  /**
   * the licences as they stood on the first day: today's demo licences (demoLicenses), and
   * those whose cycle came up in the half year, at the expiry date they had then
   */
  licenses: LicenseInput[];
  /** renewals in the order they were recorded, each as the licence reads after it */
  renewals: { on: string; license: LicenseInput }[];
  /** phones no longer in use, as written in the licences: an SMS to them fails */
  deadPhones: { phone: string; answer: DeadPhoneAnswer }[];
}

/** Categories of the cycles that came up, by weight: most holders are individuals, officers above all. */
const HISTORY_MIX: readonly (readonly [DemoCategoryCode, number])[] = [
  ['enforcement-cert-review', 45],
  ['food-business', 22],
  ['road-transport', 18],
  ['public-hygiene', 9],
  ['water-abstraction', 6],
];

interface ContactKind extends DemoContact {
  /** the phone is no longer in use, and what the carrier answers */
  dead?: DeadPhoneAnswer;
}

/** How the holders of those cycles could be reached. */
const CONTACTS: readonly (readonly [ContactKind, number])[] = [
  [{ phone: true, app: true }, 46],
  [{ phone: true, app: false }, 34],
  [{ phone: false, app: true }, 4],
  [{ phone: true, app: true, dead: 'undelivered' }, 2], // the app still reaches them
  [{ phone: true, app: false, dead: 'undelivered' }, 5],
  [{ phone: true, app: false, dead: 'rejected' }, 3],
  [{ phone: false, app: false }, 6], // no usable contact: undeliverable
];

type Fate = 'in-time' | 'late' | 'never';

/** What holders did: those reached renew in time far more often. */
const FATES: Record<'reached' | 'unreached', readonly (readonly [Fate, number])[]> = {
  reached: [
    ['in-time', 97],
    ['late', 1.5],
    ['never', 1.5],
  ],
  unreached: [
    ['in-time', 50],
    ['late', 15],
    ['never', 35],
  ],
};

/** After which reminder a reached holder renews, and within how many days of it. */
const PROMPTED_BY: readonly (readonly [{ lead: number; within: number }, number])[] = [
  [{ lead: 60, within: 29 }, 25],
  [{ lead: 30, within: 19 }, 45],
  [{ lead: 10, within: 10 }, 30],
];

/**
 * The history of the `cycles` licences whose expiry date fell in the HISTORY_DAYS before
 * `today`, beside today's demo licences, the same for the same arguments. A renewal comes on
 * or after the reminder that prompted it (the loader sends a day's reminders before it
 * records that day's renewals), never later than the day before today.
 */
export function demoHistory(today: string, cycles = 400): DemoHistory {
  const firstDay = addDays(today, -HISTORY_DAYS);
  const lastDay = addDays(today, -1);
  // Today's licences first, so that the history's holders, phones and numbers differ from theirs.
  const maker = demoLicenseMaker();
  const licenses = demoLicensesOf(maker, today);
  const rnd = seededRandom(0x4849_5354); // 'HIST'
  const renewals: DemoHistory['renewals'] = [];
  const deadPhones: DemoHistory['deadPhones'] = [];

  for (let i = 0; i < cycles; i++) {
    const cat = rnd.weighted(HISTORY_MIX);
    const contact = rnd.weighted(CONTACTS);
    const expiresOn = addDays(firstDay, rnd.int(5, HISTORY_DAYS - 1));
    const license = maker.license(cat, expiresOn, 'active', contact);
    licenses.push(license);
    if (contact.dead && license.phone) deadPhones.push({ phone: license.phone, answer: contact.dead });

    const reached = contact.app === true || (contact.phone === true && !contact.dead);
    const fate = rnd.weighted(FATES[reached ? 'reached' : 'unreached']);
    let on: string | undefined;
    if (fate === 'in-time' && reached) {
      const { lead, within } = rnd.weighted(PROMPTED_BY);
      on = addDays(expiresOn, -lead + rnd.int(0, within));
    } else if (fate === 'in-time') {
      on = addDays(expiresOn, -rnd.int(0, 40));
    } else if (fate === 'late') {
      on = addDays(expiresOn, rnd.int(1, 25));
    }
    if (on === undefined || on > lastDay) continue;
    renewals.push({ on: on < firstDay ? firstDay : on, license: renewedDemoLicense(license) });
  }
  renewals.sort((a, b) => (a.on < b.on ? -1 : a.on > b.on ? 1 : 0));
  return { firstDay, licenses, renewals, deadPhones };
}
