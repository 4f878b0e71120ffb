import { CHINA_TIME_ZONE, localDate } from '@lr/domain';
import type { ReceiptLookUp } from '../provider';
import { beijingTime, bizIdOf, classifyThrown, findByOutId, mainlandNumber, type AliyunSmsClient } from './client';
import { aliyunProviderError } from './errors';
import { receiptOfDetail } from './receipts';

/** Our send time is recorded just after Alibaba Cloud's: an SMS recorded this soon after Beijing midnight may be filed on the day before. */
const RECORD_LAG_MS = 2 * 60_000;

/**
 * How an SMS left without a receipt has ended at Alibaba Cloud: QuerySendDetails by its phone,
 * its day (and the day before, just after midnight) and its BizId, matched by OutId (the
 * message id), read as its report would be. One recorded by its OutId (found before sending
 * again) has no BizId to ask by: phone and day alone.
 */
export function aliyunReceiptLookUp(
  client: Pick<AliyunSmsClient, 'querySendDetails'>,
  { reconcileMinutes, timezone, now = () => new Date() }: { reconcileMinutes: number; timezone: string; now?: () => Date },
): ReceiptLookUp {
  return {
    provider: 'Alibaba Cloud',
    afterMinutes: reconcileMinutes,
    async lookUp(sms) {
      const days = [localDate(CHINA_TIME_ZONE, sms.sentAt)];
      const before = localDate(CHINA_TIME_ZONE, new Date(sms.sentAt.getTime() - RECORD_LAG_MS));
      if (before !== days[0]) days.push(before);
      let detail;
      try {
        detail = await findByOutId(client, { phone: mainlandNumber(sms.recipient), outId: String(sms.id), days, bizId: bizIdOf(sms.providerMessageId) });
      } catch (error) {
        throw aliyunProviderError(classifyThrown(error), timezone, now());
      }
      const receipt = detail && receiptOfDetail(detail);
      return detail && receipt && { receipt, at: beijingTime(detail.receiveDate) };
    },
  };
}
