// Random choices that are the same for the same seed: the demo data is the same every time.

/** mulberry32: a small, fast, seeded PRNG; the same seed gives the same sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeededRandom {
  /** A number in [0, 1). */
  float(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** An item chosen with the given weights. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
  /** `n` decimal digits. */
  digits(n: number): string;
  /** `n` characters of `alphabet`. */
  chars(alphabet: string, n: number): string;
}

/** Random choices that are the same for the same seed. */
export function seededRandom(seed: number): SeededRandom {
  const next = mulberry32(seed);
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    float: next,
    int,
    pick<T>(items: readonly T[]): T {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
    weighted<T>(items: readonly (readonly [T, number])[]): T {
      const total = items.reduce((sum, [, w]) => sum + w, 0);
      let r = next() * total;
      for (const [item, w] of items) {
        r -= w;
        if (r < 0) return item;
      }
      const last = items[items.length - 1];
      if (last === undefined) throw new Error('weighted pick from an empty list');
      return last[0];
    },
    digits(n: number): string {
      let s = '';
      for (let i = 0; i < n; i++) s += String(int(0, 9));
      return s;
    },
    chars(alphabet: string, n: number): string {
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet.charAt(int(0, alphabet.length - 1));
      return s;
    },
  };
}
