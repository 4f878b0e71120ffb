import { describe, expect, it } from 'vitest';
import { batched } from './batch';

/** A statement over many inputs that records each batch it was given. */
function recorder(fail: (input: number) => boolean = () => false) {
  const batches: number[][] = [];
  const pending: Array<() => void> = [];
  let hold = false;
  const runMany = async (inputs: number[]) => {
    batches.push(inputs);
    if (hold) await new Promise<void>((resolve) => pending.push(resolve));
    const bad = inputs.find(fail);
    if (bad !== undefined) throw new Error(`bad input ${bad}`);
    return inputs.map((n) => n * 10);
  };
  return {
    batches,
    runMany,
    holdNext: () => (hold = true),
    release: () => {
      hold = false;
      pending.splice(0).forEach((resolve) => resolve());
    },
  };
}

describe('batched', () => {
  it('answers each call with its own output, the calls of one turn in one batch', async () => {
    const r = recorder();
    const call = batched(r.runMany);
    expect(await Promise.all([call(1), call(2), call(3)])).toEqual([10, 20, 30]);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  it('gathers the calls made while a batch is in flight into the next one', async () => {
    const r = recorder();
    const call = batched(r.runMany);
    r.holdNext();
    const first = call(1);
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is out, and held
    const later = [call(2), call(3), call(4)];
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.batches).toEqual([[1]]);
    r.release();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40]);
    expect(r.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('a failed batch is tried one call at a time: only the bad input fails', async () => {
    const r = recorder((n) => n === 2);
    const call = batched(r.runMany);
    const results = await Promise.allSettled([call(1), call(2), call(3)]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 10 },
      { status: 'rejected', reason: new Error('bad input 2') },
      { status: 'fulfilled', value: 30 },
    ]);
    expect(r.batches).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('sends no batch larger than its maximum', async () => {
    const r = recorder();
    const call = batched(r.runMany, 2);
    expect(await Promise.all([1, 2, 3, 4, 5].map(call))).toEqual([10, 20, 30, 40, 50]);
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]]);
  });
});
