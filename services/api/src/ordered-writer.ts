/**
 * The writer of a licence import: runs at most `maxWrites` writes at once, while the caller
 * goes on reading, so that memory stays bounded whatever the size of the file. Each write
 * names the keys (licences) it writes; a write that shares a key with one still running
 * waits for it, so the file's order holds for every licence, while writes of different
 * licences may commit in any order.
 *
 * A failed write is kept, not thrown where it happened: the next call of `start`, `check`
 * or `finish` throws it, so that the reader stops at the next chunk.
 */
export interface OrderedWriter {
  /** Waits for room and for the writes sharing a key, then starts `write` (not waiting for it). */
  start(keys: ReadonlySet<string>, write: () => Promise<void>): Promise<void>;
  /** Throws the failure of a write, if one failed. */
  check(): void;
  /** Waits for every write; throws the failure of one, if one failed. */
  finish(): Promise<void>;
  /** Waits for every write still running; never throws: no write is left running behind an answer. */
  settle(): Promise<void>;
}

export function orderedWriter(maxWrites: number): OrderedWriter {
  /** writes running; their promises never reject (a failure is kept in `failure`) */
  let running: { keys: ReadonlySet<string>; done: Promise<void> }[] = [];
  let failure: { error: unknown } | undefined;

  const check = () => {
    if (failure) throw failure.error;
  };
  const waitUntil = async (ready: () => boolean) => {
    while (!ready()) await Promise.race(running.map((w) => w.done));
    check();
  };

  return {
    async start(keys, write) {
      await waitUntil(() => running.length < maxWrites && !running.some((w) => sharesKey(w.keys, keys)));
      const done: Promise<void> = write()
        .catch((error: unknown) => {
          failure = { error };
        })
        .finally(() => {
          running = running.filter((w) => w.done !== done);
        });
      running.push({ keys, done });
    },
    check,
    finish: () => waitUntil(() => running.length === 0),
    settle: async () => {
      await Promise.all(running.map((w) => w.done));
    },
  };
}

function sharesKey(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const key of b) if (a.has(key)) return true;
  return false;
}
