import type { FollowUpFilter } from '@lr/db';
import { LICENSE_COLUMNS, LICENSE_HEADINGS } from './headings';
import type { LedgerLanguage } from './ledger';

/** The follow-up list's CSV columns, in the order of @lr/db's followUpCsvQuery. */
export const FOLLOW_UP_COLUMNS = [
  'id',
  'reason',
  'status',
  'resolution',
  'licenseId',
  'categoryCode',
  ...LICENSE_COLUMNS,
  'daysLeft',
  'openedAt',
  'closedAt',
  'actions',
  'lastAction',
] as const;
export type FollowUpColumn = (typeof FOLLOW_UP_COLUMNS)[number];

const CHINESE_HEADINGS: Record<FollowUpColumn, string> = {
  id: '编号',
  reason: '原因',
  status: '状态',
  resolution: '结果',
  licenseId: '证照序号',
  ...LICENSE_HEADINGS,
  daysLeft: '剩余天数',
  openedAt: '立项时间',
  closedAt: '办结时间',
  actions: '跟进次数',
  lastAction: '最近跟进',
};

/** The header row: the column names (`en`) or their Chinese headings (`zh`), as the ledger's. */
export function followUpHeader(language: LedgerLanguage): string[] {
  return FOLLOW_UP_COLUMNS.map((column) => (language === 'zh' ? CHINESE_HEADINGS[column] : column));
}

/** `follow-ups_2031-03-28.csv` (`跟进清单_…` in Chinese), with the filters it was made with. */
export function followUpFilename(filter: FollowUpFilter, today: string, language: LedgerLanguage): string {
  const parts = [language === 'zh' ? '跟进清单' : 'follow-ups', today, filter.status, filter.reason, filter.categoryCode, filter.regionCode];
  return `${parts.filter((p) => p !== undefined).join('_')}.csv`;
}
