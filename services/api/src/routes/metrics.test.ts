import { createLogger } from '@lr/log';
import { describe, expect, it } from 'vitest';
import { backgroundFigure } from './metrics';

const log = createLogger('test', 'silent');

describe('backgroundFigure', () => {
  it('loads once at first, then serves the last figure and refreshes it in the background once it is old', async () => {
    let clock = 0;
    let loads = 0;
    let release: (() => void) | undefined;
    const figure = backgroundFigure(
      () => {
        loads += 1;
        const value = loads;
        return loads === 1 ? Promise.resolve(value) : new Promise<number>((resolve) => (release = () => resolve(value)));
      },
      30_000,
      log,
      () => clock,
    );
    expect(await figure()).toBe(1);
    clock = 29_999;
    expect(await figure()).toBe(1);
    expect(loads).toBe(1);
    clock = 30_000;
    // Old: one refresh starts, and the caller is answered at once with the last figure.
    expect(await figure()).toBe(1);
    expect(await figure()).toBe(1);
    expect(loads).toBe(2);
    release!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await figure()).toBe(2);
  });

  it('keeps the last figure when a refresh fails, and tries again at the next call', async () => {
    let clock = 0;
    let fail = false;
    let loads = 0;
    const figure = backgroundFigure(
      async () => {
        loads += 1;
        if (fail) throw new Error('PostgreSQL is away');
        return loads;
      },
      10,
      log,
      () => clock,
    );
    expect(await figure()).toBe(1);
    fail = true;
    clock = 10;
    expect(await figure()).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await figure()).toBe(1);
    fail = false;
    await new Promise((resolve) => setImmediate(resolve));
    expect(await figure()).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await figure()).toBeGreaterThan(1);
  });

  it('does not hold callers when the first load failed: they get no figure, and a refresh runs in the background', async () => {
    let loads = 0;
    const figure = backgroundFigure(
      () => {
        loads += 1;
        // The first load fails (PostgreSQL down at start); the next never answers.
        return loads === 1 ? Promise.reject(new Error('PostgreSQL is away')) : new Promise<number>(() => {});
      },
      30_000,
      log,
    );
    expect(await figure()).toBeUndefined();
    const next = await Promise.race([figure(), new Promise((resolve) => setTimeout(() => resolve('waited'), 500))]);
    expect(next).toBeUndefined();
    expect(loads).toBe(2);
  });
});
