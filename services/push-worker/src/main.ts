import { providerTimeoutMs, runDeliveryService } from '@lr/delivery';
import { sendPush } from '@lr/jobs';
import { gatewaySender } from './gateway.sender';
import { logSender, pushChannel } from './push.channel';

await runDeliveryService({
  name: 'push-worker',
  job: sendPush,
  channel: (config, db, log) => pushChannel(db, config.push.provider === 'gateway' ? gatewaySender(config.push, providerTimeoutMs(config.claimLeaseSeconds)) : logSender(log)),
  provider: (config) => ({ setting: 'PUSH_PROVIDER', value: config.push.provider }),
});
