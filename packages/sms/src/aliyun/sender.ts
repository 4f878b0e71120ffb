import type { AliyunAccount, AliyunSending } from '@lr/config';
import { ProviderError, type FoundSend } from '@lr/delivery';
import { addDays, CHINA_TIME_ZONE, localDate, TEMPLATE_MISSING } from '@lr/domain';
import type { SmsSender } from '../provider';
import { aliyunSmsClient, classifyThrown, findByOutId, foundByOutId, mainlandNumber, type AliyunSmsClient, type SendDetail } from './client';
import { aliyunProviderError } from './errors';
import { receiptOfDetail } from './receipts';

/** The account, the approved signature and the digest template (ALIYUN_* settings of the SMS worker). */
type AliyunSenderSettings = AliyunAccount & AliyunSending;

/** QuerySendDetails answers for the last 30 days only. */
const LOOK_UP_DAYS = 30;

/** A send found by a look-up, with how it has ended, as its report (and the reconciliation) would say it. */
function foundSend(messageId: number, detail: SendDetail): FoundSend {
  const receipt = receiptOfDetail(detail);
  return { providerMessageId: foundByOutId(messageId), ...(receipt && { receipt }) };
}

interface AliyunSenderOptions {
  /** REMINDER_TIMEZONE: the carrier's daily limit holds a message until the next local day */
  timezone: string;
  timeoutMs?: number;
  now?: () => Date;
  /** a client of its own (tests); else the SDK's, from the settings */
  client?: AliyunSmsClient;
}

/**
 * SMS_PROVIDER=aliyun: each SMS is the message's approved template and its variables
 * (rendered by the SMS channel), sent with OutId = the message's id; its BizId is the
 * provider id that receipts carry.
 */
export function aliyunSender(settings: AliyunSenderSettings, options: AliyunSenderOptions): SmsSender {
  const client = options.client ?? aliyunSmsClient(settings, options.timeoutMs);
  const now = options.now ?? (() => new Date());
  const refusal = (error: unknown) => aliyunProviderError(classifyThrown(error), options.timezone, now());
  return {
    digestTemplateCode: settings.digestTemplateCode,
    async send(to, _body, sms) {
      const template = sms.template;
      if (!template) throw new ProviderError(true, TEMPLATE_MISSING, 'the message has no template to send through Alibaba Cloud');
      // Not sent rather than cut or refused by Alibaba Cloud: the operator fixes the category.
      if (!template.ok) throw new ProviderError(true, template.code, template.message);
      try {
        const { bizId } = await client.sendSms({
          phone: mainlandNumber(to),
          signName: settings.signName,
          templateCode: template.sms.templateCode,
          templateParam: template.sms.templateParam,
          outId: String(sms.messageId),
        });
        // Taken without a BizId: recorded under its OutId, which receipts and reconciliation match.
        return { providerMessageId: bizId ?? foundByOutId(sms.messageId) };
      } catch (error) {
        throw refusal(error);
      }
    },
    /** The phone's SMS day by day (Beijing time) from `since` to today, matched by OutId: the SMS of this message Alibaba Cloud took, if any. */
    async findSent({ to, messageId, since }) {
      const today = localDate(CHINA_TIME_ZONE, now());
      const first = localDate(CHINA_TIME_ZONE, since);
      const days: string[] = [];
      for (let day = first > addDays(today, 1 - LOOK_UP_DAYS) ? first : addDays(today, 1 - LOOK_UP_DAYS); day <= today; day = addDays(day, 1)) days.push(day);
      try {
        const match = await findByOutId(client, { phone: mainlandNumber(to), outId: String(messageId), days });
        return match ? foundSend(messageId, match) : null;
      } catch (error) {
        throw refusal(error);
      }
    },
  };
}
