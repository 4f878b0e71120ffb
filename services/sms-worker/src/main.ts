import { runDeliveryService } from '@lr/delivery';
import { sendSms } from '@lr/jobs';
import { smsSender } from '@lr/sms';
import { smsChannel } from './sms.channel';

await runDeliveryService({
  name: 'sms-worker',
  job: sendSms,
  // A BullMQ limiter holds across every worker of the queue.
  ratePerSecond: (config) => config.smsRatePerSec,
  provider: (config) => ({ setting: 'SMS_PROVIDER', value: config.sms.provider }),
  channel: (config, db, log) =>
    smsChannel(smsSender(config, log), { db, maxPerRecipientPerDay: config.smsMaxPerRecipientPerDay, timezone: config.timezone }),
});
