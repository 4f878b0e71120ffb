import {
  aliyunErrorMeaning,
  aliyunSmsClient,
  classifyThrown,
  foundByOutId,
  mainlandNumber,
  receiptOfDetail,
  type AliyunSmsClient,
  type AliyunSmsError,
  type AliyunSmsSettings,
  type SendDetail,
} from '@lr/aliyun-sms';
import { ProviderError, type FoundSend } from '@lr/delivery';
import { addDays, CHINA_TIME_ZONE, localDate, nextLocalMidnight, TEMPLATE_MISSING } from '@lr/domain';
import type { SmsSender } from './twilio.sender';

/** The account and the approved signature (ALIYUN_* settings). */
export interface AliyunSenderSettings extends AliyunSmsSettings {
  signName: string;
}

/** How long the carrier's per-number frequency limit (isv.BUSINESS_LIMIT_CONTROL) holds a message. */
export const FREQUENCY_HOLD_MS = 3_600_000;
/** QuerySendDetails answers for the last 30 days only, 50 SMS a page. */
const LOOK_UP_DAYS = 30;
const LOOK_UP_PAGE = 50;
/** The most of a phone's SMS of one day a look-up reads (a phone gets at most a few SMS a day). */
const LOOK_UP_LIMIT = 200;



/**
 * Alibaba Cloud's answer as the delivery acts on it (the classes of @lr/aliyun-sms):
 * permanent fails the message; the carrier's limits hold it (an hour; to the next local day);
 * transient retries it with backoff; an account that cannot send pauses sending and fails
 * nothing. The message is the code's meaning where known, for the operator.
 */
export function aliyunProviderError(error: AliyunSmsError, timezone: string, now: Date): ProviderError {
  const meaning = aliyunErrorMeaning(error.code);
  const message = meaning ? `${meaning} (${error.message})` : error.message;
  switch (error.errorClass) {
    case 'permanent':
      return new ProviderError(true, error.code, message);
    case 'hold_hour':
      return new ProviderError(false, error.code, message, { hold: new Date(now.getTime() + FREQUENCY_HOLD_MS) });
    case 'hold_day':
      return new ProviderError(false, error.code, message, { hold: nextLocalMidnight(timezone, now) });
    case 'account':
      return new ProviderError(false, error.code, message, { pause: true });
    case 'transient':
    default:
      return new ProviderError(false, error.code, message);
  }
}

/** A send found by a look-up, with how it has ended, as its report (and the reconciliation) would say it. */
function foundSend(messageId: number, detail: SendDetail): FoundSend {
  const receipt = receiptOfDetail(detail);
  return { providerMessageId: foundByOutId(messageId), ...(receipt && { receipt }) };
}

export interface AliyunSenderOptions {
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
  return {
    async send(to, _body, sms) {
      const template = sms?.template;
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
        throw aliyunProviderError(classifyThrown(error), options.timezone, now());
      }
    },
    /**
     * QuerySendDetails for the phone, day by day (Beijing time) from `since` to today, matched
     * by OutId: the SMS of this message that Alibaba Cloud took, if any.
     */
    async findSent({ to, messageId, since }) {
      const phone = mainlandNumber(to);
      const today = localDate(CHINA_TIME_ZONE, now());
      let day = localDate(CHINA_TIME_ZONE, since);
      if (day < addDays(today, 1 - LOOK_UP_DAYS)) day = addDays(today, 1 - LOOK_UP_DAYS);
      for (; day <= today; day = addDays(day, 1)) {
        for (let page = 1; (page - 1) * LOOK_UP_PAGE < LOOK_UP_LIMIT; page += 1) {
          let details: SendDetail[];
          try {
            ({ details } = await client.querySendDetails({ phone, sendDate: day.replaceAll('-', ''), page, pageSize: LOOK_UP_PAGE }));
          } catch (error) {
            throw aliyunProviderError(classifyThrown(error), options.timezone, now());
          }
          const match = details.find((d) => d.outId === String(messageId));
          if (match) return foundSend(messageId, match);
          if (details.length < LOOK_UP_PAGE) break;
        }
      }
      return null;
    },
  };
}
