/** pending -> queued -> sending -> sent -> delivered | undelivered | failed, or cancelled (docs/rules.md). */
export const DELIVERY_STATUSES = [
  'pending',
  'queued',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'cancelled',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Statuses a message can still leave: the sweeper and the cancellers look for these. */
export const UNFINISHED: readonly DeliveryStatus[] = ['pending', 'queued', 'sending'];
/** Not yet handed to a provider: safe to cancel. */
export const UNSENT: readonly DeliveryStatus[] = ['pending', 'queued'];
