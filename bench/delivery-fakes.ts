// The bench's providers: Twilio's Messages endpoint and the push gateway, answering at once
// (no timer) on connections kept alive as a real provider keeps them. @lr/testing's fakes
// (BENCH_FAKE=testing) answer through setTimeout(0), about 1 ms later, and set the server's
// keepAliveTimeout to 1 s: Node's http.Agent (under the twilio package's axios) and fetch
// both subtract a 1 s margin from the server's Keep-Alive hint, so they reuse no connection,
// and every send opens and closes a TCP connection of its own.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fakePushGateway, fakeTwilio, TEST_PUSH_SECRET } from '@lr/testing';
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

function validSignature(timestamp: unknown, signature: unknown, body: string): boolean {
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  const expected = createHmac('sha256', TEST_PUSH_SECRET).update(`${timestamp}.${body}`).digest();
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What Twilio answers to a message it accepted (the fields of its Message resource). */
function messageResource(path: string, sid: string, form: URLSearchParams) {
  const accountSid = /Accounts\/(AC\w+)\//.exec(path)?.[1];
  const now = new Date().toUTCString().replace('GMT', '+0000');
  const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`;
  return {
    account_sid: accountSid,
    api_version: '2010-04-01',
    body: form.get('Body'),
    date_created: now,
    date_sent: null,
    date_updated: now,
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: form.get('From'),
    messaging_service_sid: form.get('MessagingServiceSid'),
    num_media: '0',
    num_segments: '1',
    price: null,
    price_unit: 'USD',
    sid,
    status: 'queued',
    subresource_uris: { media: uri.replace('.json', '/Media.json') },
    to: form.get('To'),
    uri,
  };
}

/** The bench's own fake: the request is answered as soon as its body has arrived; checks wait for accepted(). */
async function zeroLatencyProvider(channel: ChannelName): Promise<BenchProvider> {
  const received: { body: string; timestamp: unknown; signature: unknown; sid: string }[] = [];
  const prefix = randomBytes(8).toString('hex');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const ok = channel === 'sms' ? req.method === 'POST' && /^\/2010-04-01\/Accounts\/AC\w+\/Messages\.json$/.test(req.url ?? '') : req.method === 'POST';
      if (!ok) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":20404,"message":"not found","status":404}');
        return;
      }
      const sid = `SM${prefix}${String(received.length).padStart(16, '0')}`;
      received.push({ body, timestamp: req.headers['x-timestamp'], signature: req.headers['x-signature'], sid });
      if (channel === 'sms') {
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(messageResource(req.url!, sid, new URLSearchParams(body))));
      } else {
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => received.length,
    accepted: () =>
      received.map((r) => {
        if (channel === 'sms') return { recipient: new URLSearchParams(r.body).get('To') ?? '', providerId: r.sid, signatureValid: true };
        const push = JSON.parse(r.body) as { userId: string; idempotencyKey: string };
        return { recipient: push.userId, providerId: push.idempotencyKey, signatureValid: validSignature(r.timestamp, r.signature, r.body) };
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** @lr/testing's fakes, as the tests use them. */
async function testingProvider(channel: ChannelName): Promise<BenchProvider> {
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

export function startProvider(channel: ChannelName, kind: 'bench' | 'testing'): Promise<BenchProvider> {
  return kind === 'testing' ? testingProvider(channel) : zeroLatencyProvider(channel);
}
