// The provider client alone, as the workers build it (twilioSender with the `twilio` package,
// gatewaySender with undici and its HMAC), against the bench's zero-latency fake, at the
// worker's concurrency, with no PostgreSQL and no queue: what one call costs the worker.
// Run by bench/delivery.ts:
//   node --import tsx bench/delivery-sender.ts <sms|push> <calls> <concurrency> <fake url>
// with BENCH_SENDER_CONTENT (JSON: the first message's body, or title, body and url; aliyun: its templateCode and templateParam) in the
// environment. Prints one JSON line (SenderResult).
// With SMS_PROVIDER=aliyun, `sms` is the bare SDK (@alicloud/dysmsapi20170525's client and
// its SendSms with the template and variables the worker sent first, and an OutId; no code of
// ours around it): the floor the aliyun SMS worker's rate is held against (issue 15).
import { createRequire } from 'node:module';
import { gatewaySender } from '@lr/push-worker/gateway.sender';
import { twilioSender } from '@lr/sms';
import { TEST_ALIYUN, TEST_PUSH_SECRET, TEST_TWILIO } from '@lr/testing';
import { SMS_PROVIDER, type ChannelName, type SenderResult } from './delivery-common';
import { seconds } from './measure';

const channel = process.argv[2] as ChannelName;
const calls = Number(process.argv[3]);
const concurrency = Number(process.argv[4]);
const url = process.argv[5]!;
const content = JSON.parse(process.env.BENCH_SENDER_CONTENT ?? '{}') as {
  title?: string;
  body?: string;
  url?: string;
  templateCode?: string;
  templateParam?: Record<string, string>;
};

/** The bare SDK: a dependency of @lr/sms, not of the root, so required from there (CommonJS: the client class is `default`). */
function bareAliyunSdk() {
  const require = createRequire(import.meta.resolve('@lr/sms'));
  const sdk = require('@alicloud/dysmsapi20170525') as {
    default: new (config: unknown) => { sendSms(request: unknown): Promise<{ body?: { code?: string; bizId?: string } }> };
    SendSmsRequest: new (fields: Record<string, string>) => unknown;
  };
  const { $OpenApiUtil } = require('@alicloud/openapi-core') as { $OpenApiUtil: { Config: new (fields: Record<string, string>) => unknown } };
  const endpoint = new URL(url);
  const client = new sdk.default(
    new $OpenApiUtil.Config({
      accessKeyId: TEST_ALIYUN.accessKeyId,
      accessKeySecret: TEST_ALIYUN.accessKeySecret,
      endpoint: endpoint.host,
      protocol: endpoint.protocol.replace(':', ''),
    }),
  );
  // The variables of the worker's first message (BENCH_SENDER_CONTENT's templateParam), as it sent them.
  const templateParam = JSON.stringify(content.templateParam ?? {});
  return async (i: number) => {
    const request = new sdk.SendSmsRequest({
      phoneNumbers: `137${String(i).padStart(8, '0')}`,
      signName: TEST_ALIYUN.signName,
      templateCode: content.templateCode ?? 'SMS_100000001',
      templateParam,
      outId: String(i + 1),
    });
    const { body } = await client.sendSms(request);
    if (body?.code !== 'OK') throw new Error(`SendSms answered ${body?.code}`);
  };
}

let send: (i: number) => Promise<unknown>;
if (channel === 'sms' && SMS_PROVIDER === 'aliyun') {
  send = bareAliyunSdk();
} else if (channel === 'sms') {
  const sender = twilioSender(
    { provider: 'twilio', ...TEST_TWILIO, messagingServiceSid: undefined, apiBaseUrl: url },
    'http://127.0.0.1:9/webhooks/twilio/status',
  );
  send = (i) => sender.send(`+86137${String(i).padStart(8, '0')}`, content.body ?? 'bench', { messageId: i + 1 });
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
