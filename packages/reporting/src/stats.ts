import { leadDaysByCategory, statsCounts, type DeliveryBucket, type CycleCounts, type Database, type HolderCounts, type ReminderCounts, type ReportFilter, type StatsGroupBy } from '@lr/db';

const NO_DELIVERIES = { pending: 0, sent: 0, delivered: 0, undelivered: 0, failed: 0, cancelled: 0 };

export interface CycleFigures {
  renewed: number;
  expired: number;
  open: number;
  /** renewed ÷ (renewed + expired); null while none has ended */
  renewalRate: number | null;
}

/** The figures of one period or group: the report of docs/rules.md's "Outcomes". */
export interface Figures {
  reminders: { created: number; reached: number; undeliverable: number; failed: number; inProgress: number; cancelled: number };
  deliveries: Record<'sms' | 'push', Record<DeliveryBucket, number>>;
  holdersReached: { enterprise: number; individual: number };
  cycles: { reached: number } & CycleFigures;
  unreached: { cycles: number } & CycleFigures;
  renewalsCredited: { byLeadDays: Record<string, number>; byChannel: { sms: number; push: number; both: number } };
  links: { opened: number; renewedAfterOpening: number };
}

export interface Stats extends Figures {
  from: string | null;
  to: string | null;
  groups?: ({ key: string } & Figures)[];
}

/** renewed ÷ (renewed + expired): open cycles are left out; null when no cycle has ended. */
export function renewalRate(renewed: number, expired: number): number | null {
  return renewed + expired === 0 ? null : renewed / (renewed + expired);
}

function cycleFigures(cycles: CycleCounts[], reached: boolean): { cycles: number } & CycleFigures {
  const count = (outcome?: CycleCounts['outcome']) =>
    cycles.filter((c) => c.reached === reached && (outcome === undefined || c.outcome === outcome)).reduce((sum, c) => sum + c.cycles, 0);
  const renewed = count('renewed');
  const expired = count('expired');
  return { cycles: count(), renewed, expired, open: count('open'), renewalRate: renewalRate(renewed, expired) };
}

/** Reached cycles whose holder opened a renewal link of the cycle, and of those the renewed (docs/rules.md). */
function linkFigures(cycles: CycleCounts[]): Figures['links'] {
  const opened = cycles.filter((c) => c.reached && c.opened);
  const sum = (of: CycleCounts[]) => of.reduce((total, c) => total + c.cycles, 0);
  return { opened: sum(opened), renewedAfterOpening: sum(opened.filter((c) => c.outcome === 'renewed')) };
}

const NO_REMINDERS: ReminderCounts = {
  key: null,
  reached: 0,
  undeliverable: 0,
  failed: 0,
  inProgress: 0,
  cancelled: 0,
  deliveries: { sms: NO_DELIVERIES, push: NO_DELIVERIES },
};

/** Reminder counts added up: each reminder is in one group, so a period's are its groups' sums. */
function sumOf(groups: ReminderCounts[]): ReminderCounts {
  const add = <T extends Record<string, number>>(a: T, b: T) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v + b[k]!])) as T;
  return groups.reduce(
    (sum, g) => ({
      key: null,
      reached: sum.reached + g.reached,
      undeliverable: sum.undeliverable + g.undeliverable,
      failed: sum.failed + g.failed,
      inProgress: sum.inProgress + g.inProgress,
      cancelled: sum.cancelled + g.cancelled,
      deliveries: { sms: add(sum.deliveries.sms, g.deliveries.sms), push: add(sum.deliveries.push, g.deliveries.push) },
    }),
    NO_REMINDERS,
  );
}

/**
 * The figures of one period or group. `leadDays` are the leads that renewalsCredited.byLeadDays
 * names even with no credit (those of the categories reported on), so a chart's columns stay put;
 * a lead credited that a category has since dropped is named too.
 */
function figures(r: ReminderCounts, holders: HolderCounts[], cycles: CycleCounts[], leadDays: number[]): Figures {
  const holdersOf = (type: HolderCounts['holderType']) => holders.find((h) => h.holderType === type)?.holders ?? 0;
  const { cycles: reachedCycles, ...reachedFigures } = cycleFigures(cycles, true);
  const byLeadDays: Record<string, number> = Object.fromEntries(leadDays.map((lead) => [String(lead), 0]));
  const byChannel = { sms: 0, push: 0, both: 0 };
  // Credit is only given to a renewed, reached cycle's reminder.
  for (const c of cycles) {
    if (!c.reached || c.outcome !== 'renewed' || c.creditedLeadDays === null || c.creditedChannels === null) continue;
    byLeadDays[String(c.creditedLeadDays)] = (byLeadDays[String(c.creditedLeadDays)] ?? 0) + c.cycles;
    byChannel[c.creditedChannels] += c.cycles;
  }
  return {
    reminders: {
      created: r.reached + r.undeliverable + r.failed + r.inProgress + r.cancelled,
      reached: r.reached,
      undeliverable: r.undeliverable,
      failed: r.failed,
      inProgress: r.inProgress,
      cancelled: r.cancelled,
    },
    deliveries: r.deliveries,
    holdersReached: { enterprise: holdersOf('enterprise'), individual: holdersOf('individual') },
    cycles: { reached: reachedCycles, ...reachedFigures },
    unreached: cycleFigures(cycles, false),
    renewalsCredited: { byLeadDays, byChannel },
    links: linkFigures(cycles),
  };
}

/** The figures of a period (reminders by scan date, both ends included), and of each group with `groupBy`. */
export async function periodStats(db: Database, filter: ReportFilter, groupBy?: StatsGroupBy): Promise<Stats> {
  const [counts, categoryLeads] = await Promise.all([statsCounts(db, filter, groupBy), leadDaysByCategory(db)]);
  const leadsOf = (codes: string[]) => [...new Set(codes.flatMap((code) => categoryLeads.get(code) ?? []))];
  const reported = leadsOf(filter.categoryCode !== undefined ? [filter.categoryCode] : [...categoryLeads.keys()]);
  const of = (key: string | null) =>
    figures(
      key === null ? sumOf(counts.reminders) : (counts.reminders.find((r) => r.key === key) ?? NO_REMINDERS),
      counts.holders.filter((h) => h.key === key),
      counts.cycles.filter((c) => c.key === key),
      groupBy === 'category' && key !== null ? leadsOf([key]) : reported,
    );
  const stats: Stats = { from: filter.from ?? null, to: filter.to ?? null, ...of(null) };
  if (groupBy) {
    const keys = counts.reminders.map((r) => r.key).filter((key): key is string => key !== null);
    stats.groups = keys.sort().map((key) => ({ key, ...of(key) }));
  }
  return stats;
}
