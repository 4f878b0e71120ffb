// The worker's SQL, one message at a time: deliverMessage with the worker's own channel
// (smsChannel with its daily cap and suppression check, pushChannel with its inbox write)
// around a provider that answers at once, with no HTTP and no queue, on one connection.
// Each statement is timed at the driver, and its PostgreSQL backend's CPU time is read
// from /proc/<pid>/schedstat around it. Run by bench/delivery.ts on messages it has put
// back to 'queued' (their ids, comma-separated, in BENCH_DIRECT_IDS):
//   node --import tsx bench/delivery-direct.ts <sms|push>
// Prints one JSON line (DirectResult).
import { connect } from '@lr/db';
import { deliverMessage } from '@lr/delivery';
import { createLogger } from '@lr/log';
import { pushChannel } from '@lr/push-worker/push.channel';
import { smsChannel } from '@lr/sms-worker/sms.channel';
import { DATABASE_URL, type ChannelName, type DirectResult } from './delivery-common';
import { cpuNanosOf, seconds } from './measure';

const channel = process.argv[2] as ChannelName;
const ids = (process.env.BENCH_DIRECT_IDS ?? '').split(',').filter(Boolean).map(Number);
if ((channel !== 'sms' && channel !== 'push') || ids.length === 0) throw new Error('usage: BENCH_DIRECT_IDS=1,2,3 delivery-direct.ts <sms|push>');

/** A statement in a few words, from its text (a message's move names the status it moves to, or has it as a parameter). */
function label(text: string, params: unknown): string {
  if (/set status = 'sent'/.test(text)) return 'move to sent (markSentMany)';
  if (/pg_advisory_xact_lock/.test(text)) return 'receipt locks of the sids (markSentMany)';
  if (/with moved as/.test(text)) {
    const [, written, parameter] = /set status = (?:'(\w+)'|\$(\d+))/.exec(text) ?? [];
    const to = written ?? String((params as unknown[])[Number(parameter) - 1]);
    return `move to ${to}${to === 'sending' ? ' (claim)' : ''}`;
  }
  if (/sms_suppressions/.test(text)) return 'admit (SMS of the day, suppression)';
  if (/insert into "inbox_messages"/.test(text)) return 'inbox write';
  return text.replace(/\s+/g, ' ').trim().slice(0, 50);
}

const database = connect(DATABASE_URL, { max: 1, applicationName: 'bench-direct' });
const statements = new Map<string, { count: number; wallMs: number; backendMs: number }>();
/** time spent reading /proc here: taken out of this process's CPU time */
let probeNs = 0n;
database.pool.on('connect', (client) => {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  const backend = () => {
    const at = process.hrtime.bigint();
    const ns = cpuNanosOf((client as unknown as { processID: number }).processID);
    probeNs += process.hrtime.bigint() - at;
    return ns;
  };
  (client as unknown as { query: typeof query }).query = async (...args: unknown[]) => {
    const what = label(typeof args[0] === 'string' ? args[0] : '', args[1]);
    const cpu = backend();
    const started = process.hrtime.bigint();
    try {
      return await query(...args);
    } finally {
      const wallMs = seconds(started) * 1000;
      const entry = statements.get(what) ?? { count: 0, wallMs: 0, backendMs: 0 };
      entry.count++;
      entry.wallMs += wallMs;
      entry.backendMs += (backend() - cpu) / 1e6;
      statements.set(what, entry);
    }
  };
});

const log = createLogger('bench-direct', 'warn');
const provider = { send: async (to: string) => ({ providerMessageId: `direct-${to}-${process.hrtime.bigint()}` }) };
const deps = { db: database.db, log, workerId: `bench-direct-${process.pid}`, claimLeaseSeconds: 120, maxClaims: 8, linkBaseUrl: 'https://reminders.example.gov.cn' };
const sms = smsChannel(provider, { db: database.db, maxPerRecipientPerDay: 3, timezone: 'Asia/Shanghai' });
const push = pushChannel(database.db, { send: async (userId) => provider.send(userId) });
const deliver = (id: number) => (channel === 'sms' ? deliverMessage(deps, sms, id, false) : deliverMessage(deps, push, id, false));

// The connection opened, and the statements planned once, before the clock starts.
await database.pool.query('select 1');
statements.clear();
probeNs = 0n;
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
for (const id of ids) {
  const result = await deliver(id);
  if (result.outcome !== 'sent') throw new Error(`message ${id}: ${JSON.stringify(result)}`);
}
const elapsed = seconds(started);
const cpu = process.cpuUsage(cpuBefore);
await database.close();

const result: DirectResult = {
  messages: ids.length,
  seconds: elapsed - Number(probeNs) / 1e9,
  cpuSeconds: (cpu.user + cpu.system) / 1e6 - Number(probeNs) / 1e9,
  statements: [...statements].map(([what, s]) => ({ what, ...s })),
};
console.log(JSON.stringify(result));
