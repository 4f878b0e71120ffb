import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { idSealer } from './id-seal';

describe('sealed id numbers', () => {
  const sealer = idSealer(randomBytes(32));

  it('opens what it sealed, and never stores the number in the clear', () => {
    const { sealed } = sealer.seal('41010219900101123X');
    expect(sealed.toString('latin1')).not.toContain('41010219900101123X');
    expect(sealer.open(sealed)).toBe('41010219900101123X');
  });

  it('seals the same number differently each time, but hashes it the same', () => {
    const a = sealer.seal('91350100M000100Y43');
    const b = sealer.seal('91350100M000100Y43');
    expect(a.sealed.equals(b.sealed)).toBe(false);
    expect(a.hash.equals(b.hash)).toBe(true);
    expect(a.hash.equals(sealer.hash('91350100M000100Y43'))).toBe(true);
  });

  it('seals many at once with a different IV each, and each opens', () => {
    const ids = ['41010219900101123X', '91350100M000100Y43', '41010219900101123X'];
    const { sealed, hashes } = sealer.sealMany(ids);
    expect(sealed.map((s) => sealer.open(Buffer.from(s, 'base64')))).toEqual(ids);
    expect(sealed[0]).not.toBe(sealed[2]);
    expect(hashes[0]).toBe(sealer.hash(ids[0]!).toString('base64'));
    expect(hashes[2]).toBe(hashes[0]);
  });

  it('refuses a tampered value and another key', () => {
    const { sealed } = sealer.seal('41010219900101123X');
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => sealer.open(tampered)).toThrow();
    expect(() => idSealer(randomBytes(32)).open(sealed)).toThrow();
    expect(idSealer(randomBytes(32)).hash('x').equals(sealer.hash('x'))).toBe(false);
  });

  it('wants a key of at least 32 bytes', () => {
    expect(() => idSealer(randomBytes(16))).toThrow(/32 bytes/);
  });
});
