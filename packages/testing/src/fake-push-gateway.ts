import { createHmac, timingSafeEqual } from 'node:crypto';
import { fakeHttpServer, type FakeHttpServer, type Recorded } from './fake-http';

export const TEST_PUSH_SECRET = 'test-push-gateway-secret-0123456789';

export interface ReceivedPush {
  userId: string;
  title: string;
  body: string;
  url: string;
  idempotencyKey: string;
  signatureValid: boolean;
}

export interface FakePushGateway extends FakeHttpServer {
  pushes(): ReceivedPush[];
}

/** Checks X-Signature the way the app platform does: HMAC-SHA256 of `timestamp.body`. */
export function signatureValid(request: Recorded, secret: string): boolean {
  const timestamp = request.headers['x-timestamp'];
  const signature = request.headers['x-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest();
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function fakePushGateway(secret = TEST_PUSH_SECRET): Promise<FakePushGateway> {
  const server = await fakeHttpServer(() => ({ status: 202, body: { accepted: true } }));
  return {
    ...server,
    pushes: () =>
      server.requests.map((r) => ({ ...(JSON.parse(r.body) as Omit<ReceivedPush, 'signatureValid'>), signatureValid: signatureValid(r, secret) })),
  };
}
