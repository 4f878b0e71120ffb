import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { UnrecoverableError, type JobsOptions } from 'bullmq';

/**
 * One definition per job: the queue it travels on, the shape of its payload, its
 * retry policy and the rule that derives its id. Producers and consumers both use
 * these, so a job cannot be enqueued with a shape its worker does not expect.
 */
export interface JobDefinition<S extends TSchema> {
  queue: string;
  name: string;
  payload: S;
  options: JobsOptions;
  /** BullMQ deduplicates on the id; ids may not contain ':'. */
  jobId(payload: Static<S>): string;
}

const MessageRef = Type.Object({ messageId: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

// Transient provider errors are retried with exponential backoff and jitter:
// 5 s, 10 s, 20 s ... about 10 minutes in all over 8 attempts.
const retried: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export const sendSms: JobDefinition<typeof MessageRef> = {
  queue: 'sms',
  name: 'send-sms',
  payload: MessageRef,
  options: retried,
  jobId: ({ messageId }) => `sms-${messageId}`,
};

export const sendPush: JobDefinition<typeof MessageRef> = {
  queue: 'push',
  name: 'send-push',
  payload: MessageRef,
  options: retried,
  jobId: ({ messageId }) => `push-${messageId}`,
};

/** The jobs that carry one outgoing message to its channel's worker. */
export type MessageJob = typeof sendSms;

/** The job of each channel. */
export const messageJobs: Record<'sms' | 'push', MessageJob> = { sms: sendSms, push: sendPush };


const checkers = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Unrecoverable: a worker does not retry a job whose payload has the wrong shape. */
export class InvalidPayloadError extends UnrecoverableError {}

/** Checks a payload against its job's schema; throws naming the first problem. */
export function parsePayload<S extends TSchema>(job: JobDefinition<S>, data: unknown): Static<S> {
  let checker = checkers.get(job.payload);
  if (!checker) {
    checker = TypeCompiler.Compile(job.payload);
    checkers.set(job.payload, checker);
  }
  if (checker.Check(data)) return data;
  const first = checker.Errors(data).First();
  throw new InvalidPayloadError(`${job.name}: payload ${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
}
