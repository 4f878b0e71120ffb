import type { FastifyReply } from 'fastify';
import { ApiError } from './errors';

/** What a client refused by a full gate is told to wait: a report takes seconds. */
const RETRY_AFTER_SECONDS = 5;

/**
 * At most `max` reports at once (REPORT_CONCURRENCY). A report holds a database connection
 * and much of PostgreSQL's memory for seconds; more of them at once would take the
 * connections that every other request needs, so one more is refused, not queued.
 */
export interface ReportGate {
  /**
   * Takes a place, or answers `429 rate_limited` with Retry-After when none is free. The
   * returned function gives the place back; only its first call counts.
   */
  enter(reply: FastifyReply): () => void;
  /** Runs `report` in a place of the gate: for reports answered in one piece. */
  run<T>(reply: FastifyReply, report: () => Promise<T>): Promise<T>;
}

export function createReportGate(max: number): ReportGate {
  let running = 0;
  const enter = (reply: FastifyReply) => {
    if (running >= max) {
      void reply.header('retry-after', RETRY_AFTER_SECONDS);
      throw new ApiError(429, 'rate_limited', `${max} reports are running, as many as the service runs at once; retry in ${RETRY_AFTER_SECONDS} s`);
    }
    running += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      running -= 1;
    };
  };
  return {
    enter,
    async run(reply, report) {
      const leave = enter(reply);
      try {
        return await report();
      } finally {
        leave();
      }
    },
  };
}
