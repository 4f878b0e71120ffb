import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors';
import { createReportGate } from './report-gate';

/** A reply that keeps the headers set on it. */
function reply(): FastifyReply & { headers: Record<string, unknown> } {
  const headers: Record<string, unknown> = {};
  return { headers, header: (name: string, value: unknown) => ((headers[name] = value), undefined) } as unknown as FastifyReply & { headers: Record<string, unknown> };
}

describe('report gate', () => {
  it('lets `max` reports in, refuses the next with 429 rate_limited and Retry-After, and lets one in again when one leaves', () => {
    const gate = createReportGate(2);
    const leaveFirst = gate.enter(reply());
    gate.enter(reply());
    const refused = reply();
    expect(() => gate.enter(refused)).toThrow(expect.objectContaining({ statusCode: 429, code: 'rate_limited' }) as ApiError);
    expect(refused.headers['retry-after']).toBe(5);
    leaveFirst();
    // Leaving twice frees one place only.
    leaveFirst();
    gate.enter(reply());
    expect(() => gate.enter(reply())).toThrow(ApiError);
  });

  it('gives the place back when a report run through it fails', async () => {
    const gate = createReportGate(1);
    await expect(gate.run(reply(), () => Promise.reject(new Error('statement timeout')))).rejects.toThrow('statement timeout');
    expect(await gate.run(reply(), () => Promise.resolve('figures'))).toBe('figures');
  });
});
