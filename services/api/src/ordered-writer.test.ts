import { setTimeout } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { orderedWriter } from './ordered-writer';

/** A write that ends when `release` is called, noting when it started and ended. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const ended = new Promise<void>((resolve) => (release = resolve));
  return {
    release,
    write: async () => {
      log.push(`start ${name}`);
      await ended;
      log.push(`end ${name}`);
    },
  };
}

describe('orderedWriter', () => {
  it('runs at most maxWrites at once: the next start waits until one ends', async () => {
    const log: string[] = [];
    const writer = orderedWriter(2);
    const [a, b, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'c')];
    await writer.start(new Set(['1']), a.write);
    await writer.start(new Set(['2']), b.write);
    const third = writer.start(new Set(['3']), c.write);
    await setTimeout(10);
    expect(log).toEqual(['start a', 'start b']);
    b.release();
    await third;
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c']);
    a.release();
    c.release();
    await writer.finish();
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c', 'end a', 'end c']);
  });

  it('starts a write sharing a key with a running one only after it, while writes of other keys overlap', async () => {
    const log: string[] = [];
    const writer = orderedWriter(3);
    const [a, b, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'c')];
    await writer.start(new Set(['x', 'y']), a.write);
    await writer.start(new Set(['z']), b.write);
    const sameKey = writer.start(new Set(['q', 'y']), c.write);
    await setTimeout(10);
    expect(log).toEqual(['start a', 'start b']);
    b.release();
    await setTimeout(10);
    expect(log).toEqual(['start a', 'start b', 'end b']);
    a.release();
    await sameKey;
    expect(log).toEqual(['start a', 'start b', 'end b', 'end a', 'start c']);
    c.release();
    await writer.finish();
  });

  it('keeps a failed write for the next start, check and finish to throw; settle waits without throwing', async () => {
    const writer = orderedWriter(2);
    const failure = new Error('the database went away');
    await writer.start(new Set(['1']), () => Promise.reject(failure));
    await setTimeout(0);
    expect(() => writer.check()).toThrow(failure);
    await expect(writer.start(new Set(['2']), async () => undefined)).rejects.toBe(failure);
    await expect(writer.finish()).rejects.toBe(failure);
    let ended = false;
    const slow = orderedWriter(2);
    await slow.start(new Set(['1']), async () => {
      await setTimeout(20);
      ended = true;
      throw failure;
    });
    await slow.settle();
    expect(ended).toBe(true);
  });
});
