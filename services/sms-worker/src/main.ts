import { TWILIO_STATUS_PATH } from '@lr/config';
import { providerTimeoutMs, runDeliveryService } from '@lr/delivery';
import { sendSms } from '@lr/jobs';
import { logSender, smsChannel } from './sms.channel';
import { twilioSender } from './twilio.sender';

await runDeliveryService({
  name: 'sms-worker',
  job: sendSms,
  // A BullMQ limiter holds across every worker of the queue.
  ratePerSecond: (config) => config.smsRatePerSec,
  provider: (config) => ({ setting: 'SMS_PROVIDER', value: config.sms.provider }),
  channel: (config, db, log) =>
    smsChannel(
      config.sms.provider === 'twilio'
        ? twilioSender(config.sms, `${config.publicBaseUrl}${TWILIO_STATUS_PATH}`, providerTimeoutMs(config.claimLeaseSeconds))
        : logSender(log),
      { db, maxPerRecipientPerDay: config.smsMaxPerRecipientPerDay, timezone: config.timezone },
    ),
});
