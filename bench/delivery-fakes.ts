// The providers of bench/delivery.ts: @lr/testing's fake Twilio and push gateway, which
// answer as soon as a request's body is in, on connections kept alive as a provider keeps
// them, seen through what the bench checks.
import { fakePushGateway, fakeTwilio } from '@lr/testing';
import type { ChannelName } from './delivery-common';

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
  close(): Promise<void>;
}

export async function startProvider(channel: ChannelName): Promise<BenchProvider> {
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
