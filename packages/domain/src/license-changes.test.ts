import { describe, expect, it } from 'vitest';
import { licenseChanges, type LicenseState } from './license-changes';

const state = (id: number, expiresOn: string, status: LicenseState['status'] = 'active'): LicenseState => ({ id, expiresOn, status });

describe('licenseChanges: what a write of licences means (docs/rules.md, "Renewal")', () => {
  it('names a new licence created, a later date a renewal, an earlier one a correction, and active to revoked a revocation', () => {
    const before = new Map([
      [2, state(2, '2026-05-01')],
      [3, state(3, '2026-05-01')],
      [4, state(4, '2026-05-01')],
      [5, state(5, '2026-05-01', 'revoked')],
      [6, state(6, '2026-05-01')],
    ]);
    const written = [
      state(1, '2026-05-01', 'revoked'), // new, written revoked: not a revocation
      state(2, '2026-05-02'), // one day later: a renewal
      state(3, '2026-04-30'), // one day earlier: a correction
      state(4, '2027-05-01', 'revoked'), // renewed and revoked at once
      state(5, '2026-05-01', 'active'), // revoked to active: neither
      state(6, '2026-05-01'), // another field changed
    ];
    expect(licenseChanges(before, written)).toEqual({
      created: [1],
      renewed: [
        { id: 2, oldExpiresOn: '2026-05-01', newExpiresOn: '2026-05-02' },
        { id: 4, oldExpiresOn: '2026-05-01', newExpiresOn: '2027-05-01' },
      ],
      redated: [2, 3, 4],
      revoked: [4],
    });
  });

  it('finds nothing when nothing was written', () => {
    expect(licenseChanges(new Map([[1, state(1, '2026-05-01')]]), [])).toEqual({ created: [], renewed: [], redated: [], revoked: [] });
  });
});
