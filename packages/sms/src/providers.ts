/**
 * SMS_PROVIDER's choice: the one place that names every provider, and hands each service the
 * part of its provider it uses (provider.ts). A new provider is a module beside these, its
 * settings in @lr/config, and its answer in each function below.
 */
import { TWILIO_STATUS_PATH, type Config, type SmsSettings } from '@lr/config';
import { providerTimeoutMs } from '@lr/delivery';
import type { Logger } from '@lr/log';
import { aliyunReceiptLookUp, aliyunReceiptPush, aliyunSender, aliyunSmsClient } from './aliyun';
import { logSender } from './log';
import type { ReceiptLookUp, ReceiptPush, SmsSender } from './provider';
import { twilioSender } from './twilio';

/** loadConfig reads each service's part of the settings, and refuses to start without it. */
function given<T>(part: T | undefined, what: string): T {
  if (part === undefined) throw new Error(`${what} were not read for this service (loadConfig)`);
  return part;
}

/** The SMS worker's sender. */
export function smsSender(config: Config, log: Logger): SmsSender {
  const timeoutMs = providerTimeoutMs(config.claimLeaseSeconds);
  const sms = config.sms;
  switch (sms.provider) {
    case 'twilio':
      return twilioSender(sms, `${config.publicBaseUrl}${TWILIO_STATUS_PATH}`, timeoutMs);
    case 'aliyun':
      return aliyunSender(
        { ...given(sms.account, 'the Alibaba Cloud account settings'), ...given(sms.sending, 'the Alibaba Cloud sending settings') },
        { timezone: config.timezone, timeoutMs },
      );
    case 'log':
      return logSender(log);
  }
}

/**
 * The receipt pushes the API takes: each provider's URL is served, so that a push to one not
 * in use is told so (403) rather than not found; only SMS_PROVIDER's has a token.
 */
export function receiptPushes(sms: SmsSettings): ReceiptPush[] {
  return [aliyunReceiptPush(sms.provider === 'aliyun' ? given(sms.reportToken, 'ALIYUN_SMS_REPORT_TOKEN') : null)];
}

/** The scheduler's look-up of SMS left without a receipt, for a provider whose pushes may be lost for good; null for the others. */
export function receiptLookUp(config: Config): ReceiptLookUp | null {
  const sms = config.sms;
  if (sms.provider !== 'aliyun') return null;
  const client = aliyunSmsClient(given(sms.account, 'the Alibaba Cloud account settings'), providerTimeoutMs(config.claimLeaseSeconds));
  return aliyunReceiptLookUp(client, { reconcileMinutes: given(sms.reconcileMinutes, 'ALIYUN_SMS_RECONCILE_MINUTES'), timezone: config.timezone });
}

/** Whether SMS_PROVIDER sends only approved templates: a category with the sms channel then names its template. */
export const sendsTemplates = (provider: SmsSettings['provider']): boolean => provider === 'aliyun';
