import { describe, expect, it } from 'vitest';
import { renewalRate } from './stats';

describe('renewalRate', () => {
  it('is renewed ÷ (renewed + expired): open cycles are left out', () => {
    expect(renewalRate(98, 2)).toBe(0.98);
    expect(renewalRate(0, 3)).toBe(0);
    expect(renewalRate(3, 0)).toBe(1);
  });

  it('is null while no cycle has ended', () => {
    expect(renewalRate(0, 0)).toBeNull();
  });
});
