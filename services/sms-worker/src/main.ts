import type { Config } from '@lr/config';
import { TWILIO_STATUS_PATH } from '@lr/config';
import { providerTimeoutMs, runDeliveryService } from '@lr/delivery';
import { sendSms } from '@lr/jobs';
import type { Logger } from '@lr/log';
import { aliyunSender } from './aliyun.sender';
import { logSender, smsChannel } from './sms.channel';
import { twilioSender, type SmsSender } from './twilio.sender';

/** The SMS provider of SMS_PROVIDER: the one module that knows its API, and what a template provider needs rendered. */
function provider(config: Config, log: Logger): { sender: SmsSender; digestTemplateCode?: string } {
  const timeoutMs = providerTimeoutMs(config.claimLeaseSeconds);
  const sms = config.sms;
  switch (sms.provider) {
    case 'twilio':
      return { sender: twilioSender(sms, `${config.publicBaseUrl}${TWILIO_STATUS_PATH}`, timeoutMs) };
    case 'aliyun': {
      // loadConfig reads the sending settings for the SMS worker, and refuses to start without them.
      const sending = sms.sending!;
      return {
        sender: aliyunSender({ ...sms, signName: sending.signName }, { timezone: config.timezone, timeoutMs }),
        digestTemplateCode: sending.digestTemplateCode,
      };
    }
    default:
      return { sender: logSender(log) };
  }
}

await runDeliveryService({
  name: 'sms-worker',
  job: sendSms,
  // A BullMQ limiter holds across every worker of the queue.
  ratePerSecond: (config) => config.smsRatePerSec,
  provider: (config) => ({ setting: 'SMS_PROVIDER', value: config.sms.provider }),
  channel: (config, db, log) => {
    const { sender, digestTemplateCode } = provider(config, log);
    return smsChannel(sender, {
      db,
      maxPerRecipientPerDay: config.smsMaxPerRecipientPerDay,
      timezone: config.timezone,
      ...(digestTemplateCode !== undefined && { digestTemplateCode }),
    });
  },
});
