import type { ReportFilter } from '@lr/db';
import { LICENSE_COLUMNS, LICENSE_HEADINGS } from './headings';

/** The ledger's columns, by their contract names, in the order of the CSV (and of @lr/db's ledgerQuery). */
export const LEDGER_COLUMNS = [
  'asOf',
  'categoryCode',
  'categoryName',
  ...LICENSE_COLUMNS,
  'leadDays',
  'channel',
  'status',
  'attempts',
  'sentAt',
  'deliveredAt',
  'errorCode',
  'outcome',
] as const;
export type LedgerColumn = (typeof LEDGER_COLUMNS)[number];

/** The languages of the ledger's header: the values (statuses, channels, outcomes) stay the contract's codes in both. */
export const LEDGER_LANGUAGES = ['en', 'zh'] as const;
export type LedgerLanguage = (typeof LEDGER_LANGUAGES)[number];

const CHINESE_HEADINGS: Record<LedgerColumn, string> = {
  asOf: '提醒日期',
  categoryName: '证照类别',
  ...LICENSE_HEADINGS,
  leadDays: '提前天数',
  channel: '提醒方式',
  status: '状态',
  attempts: '尝试次数',
  sentAt: '发送时间',
  deliveredAt: '送达时间',
  errorCode: '错误代码',
  outcome: '续证结果',
};

/** The header row: the contract's column names (`en`) or their Chinese headings (`zh`). */
export function ledgerHeader(language: LedgerLanguage): string[] {
  return LEDGER_COLUMNS.map((column) => (language === 'zh' ? CHINESE_HEADINGS[column] : column));
}

/**
 * The download's file name, which says what it holds: `ledger_2031-01-01_2031-06-30.csv`,
 * `工作台账_…` in Chinese; `all` for an open end; the category and region when filtered.
 */
export function ledgerFilename(filter: ReportFilter, language: LedgerLanguage): string {
  const parts = [language === 'zh' ? '工作台账' : 'ledger', filter.from ?? 'all', filter.to ?? 'all', filter.categoryCode, filter.regionCode];
  return `${parts.filter((p) => p !== undefined).join('_')}.csv`;
}
