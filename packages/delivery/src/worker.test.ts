import { describe, expect, it } from 'vitest';
import { providerTimeoutMs, statementTimeoutMs } from './worker';

describe('timings derived from CLAIM_LEASE_SECONDS', () => {
  it.each([1, 2, 30, 120, 86_400])('a provider call under a lease of %i s ends within a third of it, and 10 s at most', (lease) => {
    expect(providerTimeoutMs(lease)).toBeLessThanOrEqual((lease * 1000) / 3);
    expect(providerTimeoutMs(lease)).toBeLessThanOrEqual(10_000);
  });

  it('the default lease (120 s): provider calls 10 s, statements 40 s', () => {
    expect(providerTimeoutMs(120)).toBe(10_000);
    expect(statementTimeoutMs(120)).toBe(40_000);
  });

  it('a short lease (the fault tests’ 2 s): statements still get 5 s, so a lock wait is not cut short', () => {
    expect(providerTimeoutMs(2)).toBe(666);
    expect(statementTimeoutMs(2)).toBe(5_000);
  });
});
