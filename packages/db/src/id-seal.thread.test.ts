import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { idSealer } from './id-seal';
import { sealingThread } from './id-seal.thread';

describe('sealing thread', () => {
  const secret = randomBytes(32);
  const sealer = idSealer(secret);

  it('seals on its own thread what the same key opens, and answers each call with its own numbers', async () => {
    const thread = sealingThread(secret);
    try {
      const a = ['41010219900101123X', '91350100M000100Y43'];
      const b = Array.from({ length: 500 }, (_, i) => `91411224MA${String(i).padStart(7, '0')}X`);
      const [sealsA, sealsB] = await Promise.all([thread.sealMany(a), thread.sealMany(b)]);
      expect(sealsA.sealed.map((s) => sealer.open(Buffer.from(s, 'base64')))).toEqual(a);
      expect(sealsB.sealed.map((s) => sealer.open(Buffer.from(s, 'base64')))).toEqual(b);
      expect(sealsB.hashes).toEqual(b.map((idNo) => sealer.hash(idNo).toString('base64')));
      expect(await thread.sealMany([])).toEqual({ sealed: [], hashes: [] });
    } finally {
      await thread.close();
    }
  });

  it('refuses the calls still waiting when it is closed, and starts again at the next call', async () => {
    const thread = sealingThread(secret);
    const waiting = thread.sealMany(Array.from({ length: 20_000 }, () => '41010219900101123X'));
    await thread.close();
    await expect(waiting).rejects.toThrow(/sealing thread/);
    const again = await thread.sealMany(['41010219900101123X']);
    expect(sealer.open(Buffer.from(again.sealed[0]!, 'base64'))).toBe('41010219900101123X');
    await thread.close();
  });
});
