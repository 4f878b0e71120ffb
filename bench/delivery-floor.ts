// The floor beside a delivery worker: a BullMQ worker with a no-op processor, with the same
// queue, prefix, concurrency and limiter as the real worker, draining the jobs the bench
// has put on the queue. Run by bench/delivery.ts:
//   node --import tsx bench/delivery-floor.ts <sms|push> <jobs> <concurrency> [<rate per second>]
// with BENCH_REDIS_PID in the environment (for Redis's CPU time). Prints one JSON line (FloorResult).
import { messageJobs, redisConnection, startWorker } from '@lr/jobs';
import { QUEUE_PREFIX, REDIS_URL, cpuMark, type ChannelName, type CpuMark, type FloorResult } from './delivery-common';
import { seconds } from './measure';

const channel = process.argv[2] as ChannelName;
const jobs = Number(process.argv[3]);
const concurrency = Number(process.argv[4]);
const ratePerSecond = process.argv[5] ? Number(process.argv[5]) : undefined;
if (!messageJobs[channel] || !(jobs > 0) || !(concurrency > 0)) throw new Error('usage: delivery-floor.ts <sms|push> <jobs> <concurrency> [<rate>]');
const redisPid = Number(process.env.BENCH_REDIS_PID ?? 0);

const connection = redisConnection(REDIS_URL);
let started: { at: bigint; cpu: CpuMark } | undefined;
let resolve: (result: FloorResult) => void = () => {};
const finished = new Promise<FloorResult>((r) => (resolve = r));
let completed = 0;
const worker = startWorker(
  messageJobs[channel],
  async () => {
    started ??= { at: process.hrtime.bigint(), cpu: cpuMark(redisPid) };
    return undefined;
  },
  {
    connection,
    prefix: QUEUE_PREFIX,
    concurrency,
    ...(ratePerSecond !== undefined && { limiter: { max: ratePerSecond, duration: 1000 } }),
  },
);
worker.on('completed', () => {
  if (++completed !== jobs || !started) return;
  const elapsed = seconds(started.at);
  const cpu = cpuMark(redisPid);
  resolve({
    jobs,
    seconds: elapsed,
    workerCpuSeconds: cpu.self - started.cpu.self,
    redisCpuSeconds: cpu.redis - started.cpu.redis,
    machineCpuSeconds: cpu.machine - started.cpu.machine,
  });
});
worker.on('error', (error) => process.stderr.write(`floor worker: ${String(error)}\n`));

const result = await finished;
await worker.close();
await connection.quit();
console.log(JSON.stringify(result));
