// What bench/delivery.ts and its child processes (delivery-floor.ts, delivery-sender.ts, delivery-direct.ts) share.
import { cpuSecondsOf, machineBusySeconds } from './measure';

export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/lr_bench_delivery';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The bench's own queues: their keys are deleted before every measurement and at the end. */
export const QUEUE_PREFIX = 'lr-bench-delivery';

export type ChannelName = 'sms' | 'push';

/**
 * SMS_PROVIDER=aliyun: the SMS worker sends through Alibaba Cloud's official SDK to the fake
 * Alibaba Cloud (issue 15), and the provider client alone is the bare SDK; otherwise twilio.
 */
export const SMS_PROVIDER: 'twilio' | 'aliyun' = process.env.SMS_PROVIDER === 'aliyun' ? 'aliyun' : 'twilio';

/** The template of the bench's category (food-business) under aliyun, as the fake Alibaba Cloud approved it. */
export const ALIYUN_BENCH_TEMPLATE = {
  code: 'SMS_100000001',
  params: { name: '{licenseName}', no: '{licenseNo}', date: '{expiresOn}', token: '{renewalToken}', tel: '{consultPhone}' },
};

/** CPU seconds used so far: this process, Redis (its pid from INFO, 0 if out of reach) and the whole machine. */
export interface CpuMark {
  self: number;
  redis: number;
  machine: number;
}

export function cpuMark(redisPid: number): CpuMark {
  const own = process.cpuUsage();
  return { self: (own.user + own.system) / 1e6, redis: redisPid ? cpuSecondsOf(redisPid) : 0, machine: machineBusySeconds() };
}

/** What delivery-floor.ts prints: a BullMQ worker with a no-op processor draining `jobs` jobs. */
export interface FloorResult {
  jobs: number;
  /** from the first job's start to the last job's completion */
  seconds: number;
  /** CPU of the floor process, of Redis, and of the whole machine, over those seconds */
  workerCpuSeconds: number;
  redisCpuSeconds: number;
  machineCpuSeconds: number;
}

/** What delivery-sender.ts prints: the provider client alone, `calls` calls at the worker's concurrency. */
export interface SenderResult {
  calls: number;
  seconds: number;
  cpuSeconds: number;
  /** of which in the kernel (system calls: the sockets) */
  systemSeconds: number;
}

/** What delivery-direct.ts prints: deliverMessage alone, one message at a time, by statement. */
export interface DirectResult {
  messages: number;
  seconds: number;
  /** CPU of the process (deliverMessage's JavaScript: kysely, pg, rendering) */
  cpuSeconds: number;
  /** per kind of statement: how many, their wall time at the driver, their backend's CPU time */
  statements: { what: string; count: number; wallMs: number; backendMs: number }[];
}
