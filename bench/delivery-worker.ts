// For experiments only (BENCH_SMS_CONCURRENCY, BENCH_PUSH_CONCURRENCY): the SMS or push
// worker wired as services/sms-worker/src/main.ts and services/push-worker/src/main.ts wire
// it, with another concurrency. The bench runs the real main.ts unless one is set.
//   node --import tsx bench/delivery-worker.ts <sms|push> <concurrency>
import { TWILIO_STATUS_PATH } from '@lr/config';
// @lr/delivery is a dependency of the workers, not of the root: its source, which the workers' link points to.
import { runDeliveryService } from '../packages/delivery/src/index';
import { sendPush, sendSms } from '@lr/jobs';
import { gatewaySender } from '../services/push-worker/src/gateway.sender';
import { logSender as logPush, pushChannel } from '../services/push-worker/src/push.channel';
import { logSender as logSms, smsChannel } from '../services/sms-worker/src/sms.channel';
import { twilioSender } from '../services/sms-worker/src/twilio.sender';

const channel = process.argv[2];
const concurrency = Number(process.argv[3]);
if (!(concurrency > 0)) throw new Error('usage: delivery-worker.ts <sms|push> <concurrency>');

if (channel === 'sms') {
  await runDeliveryService({
    name: 'sms-worker',
    job: sendSms,
    concurrency,
    ratePerSecond: (config) => config.smsRatePerSec,
    channel: (config, db, log) =>
      smsChannel(
        config.sms.provider === 'twilio' ? twilioSender(config.sms, `${config.publicBaseUrl}${TWILIO_STATUS_PATH}`) : logSms(log),
        { db, maxPerRecipientPerDay: config.smsMaxPerRecipientPerDay, timezone: config.timezone },
      ),
  });
} else {
  await runDeliveryService({
    name: 'push-worker',
    job: sendPush,
    concurrency,
    channel: (config, db, log) => pushChannel(db, config.push.provider === 'gateway' ? gatewaySender(config.push) : logPush(log)),
  });
}
