// The providers of bench/delivery.ts: @lr/testing's fake Twilio (or, with SMS_PROVIDER=aliyun,
// fake Alibaba Cloud, which verifies each request's ACS3-HMAC-SHA256 signature) and push
// gateway, which answer as soon as a request's body is in, on connections kept alive as a
// provider keeps them, seen through what the bench checks.
import { fakeAliyun, fakePushGateway, fakeTwilio } from '@lr/testing';
import { SMS_PROVIDER, type ChannelName } from './delivery-common';

/** One request the provider accepted: to whom, and the id the worker should record. */
export interface Accepted {
  recipient: string;
  providerId: string;
  /** push: X-Signature checks out */
  signatureValid: boolean;
}

export interface BenchProvider {
  url: string;
  /** requests received so far (cheap: polled every 5 ms) */
  count(): number;
  accepted(): Accepted[];
  /** Alibaba Cloud: the template and variables of the first SMS taken (what the bare SDK sends alike) */
  sample?(): { templateCode: string; templateParam: Record<string, string> } | undefined;
  close(): Promise<void>;
}

export async function startProvider(channel: ChannelName): Promise<BenchProvider> {
  if (channel === 'sms' && SMS_PROVIDER === 'aliyun') {
    const fake = await fakeAliyun();
    return {
      url: fake.url,
      count: () => fake.requests.length,
      // Taken means the signature, the signature name, the template and its variables checked out.
      accepted: () => fake.sms().map((s) => ({ recipient: `+86${s.phone}`, providerId: s.bizId, signatureValid: true })),
      sample: () => {
        const [first] = fake.sms();
        return first && { templateCode: first.templateCode, templateParam: first.templateParam };
      },
      close: () => fake.close(),
    };
  }
  if (channel === 'sms') {
    const fake = await fakeTwilio();
    return {
      url: fake.url,
      count: () => fake.requests.length,
      accepted: () => fake.sms().map((s) => ({ recipient: s.to, providerId: s.sid, signatureValid: true })),
      close: () => fake.close(),
    };
  }
  const fake = await fakePushGateway();
  return {
    url: fake.url,
    count: () => fake.requests.length,
    accepted: () => fake.pushes().map((p) => ({ recipient: p.userId, providerId: p.idempotencyKey, signatureValid: p.signatureValid })),
    close: () => fake.close(),
  };
}
