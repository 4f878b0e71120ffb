// The provider client alone, as the workers build it (twilioSender with the `twilio` package,
// gatewaySender with undici and its HMAC), against the bench's zero-latency fake, at the
// worker's concurrency, with no PostgreSQL and no queue: what one call costs the worker.
// Run by bench/delivery.ts:
//   node --import tsx bench/delivery-sender.ts <sms|push> <calls> <concurrency> <fake url>
// with BENCH_SENDER_CONTENT (JSON: the first message's body, or title, body and url) in the
// environment. Prints one JSON line (SenderResult).
import { TEST_PUSH_SECRET, TEST_TWILIO } from '@lr/testing';
import { gatewaySender } from '../services/push-worker/src/gateway.sender';
import { twilioSender } from '../services/sms-worker/src/twilio.sender';
import type { ChannelName, SenderResult } from './delivery-common';
import { seconds } from './measure';

const channel = process.argv[2] as ChannelName;
const calls = Number(process.argv[3]);
const concurrency = Number(process.argv[4]);
const url = process.argv[5]!;
const content = JSON.parse(process.env.BENCH_SENDER_CONTENT ?? '{}') as { title?: string; body?: string; url?: string };

let send: (i: number) => Promise<unknown>;
if (channel === 'sms') {
  const sender = twilioSender(
    { provider: 'twilio', ...TEST_TWILIO, messagingServiceSid: undefined, apiBaseUrl: url },
    'http://127.0.0.1:9/webhooks/twilio/status',
  );
  send = (i) => sender.send(`+86137${String(i).padStart(8, '0')}`, content.body ?? 'bench');
} else {
  const sender = gatewaySender({ provider: 'gateway', url, secret: TEST_PUSH_SECRET });
  const push = { title: content.title ?? 'bench', body: content.body ?? 'bench', url: content.url ?? 'https://example.org' };
  send = (i) => sender.send(`bench-sender-${i}`, push, `push-${i}`);
}

// A few calls first: the connections open and the code is compiled, as in a worker that runs.
await Promise.all(Array.from({ length: concurrency }, (_, i) => send(calls + i)));
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < calls) await send(next++);
  }),
);
const elapsed = seconds(started);
const cpu = process.cpuUsage(cpuBefore);
const result: SenderResult = { calls, seconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6, systemSeconds: cpu.system / 1e6 };
console.log(JSON.stringify(result));
