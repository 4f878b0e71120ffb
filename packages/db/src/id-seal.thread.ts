import { Worker } from 'node:worker_threads';
import type { EncodedSeals } from './id-seal';
import { RUNS_BUILT } from './built';

/**
 * Seals id numbers on a worker thread. Sealing (AES-GCM and an HMAC per number) is the
 * largest single cost of a CSV import; on its own thread it runs beside the request's
 * thread, which meanwhile parses and checks the next rows and talks to PostgreSQL.
 * The thread starts with the first call and, idle, does not keep the process alive.
 */
export interface SealingThread {
  sealMany(idNos: string[]): Promise<EncodedSeals>;
  /** stops the thread; calls still waiting are refused */
  close(): Promise<void>;
}

export interface SealRequest {
  id: number;
  idNos: string[];
}
export type SealReply = { id: number; seals: EncodedSeals } | { id: number; error: string };

// Built (scripts/build.mjs), the thread's module is a bundle of its own beside this one, in
// dist/; from the sources it is TypeScript, which a thread loads through tsx (ts-worker.mjs).
const BOOTSTRAP = RUNS_BUILT ? new URL('./id-seal.worker.mjs', import.meta.url) : new URL('./ts-worker.mjs', import.meta.url);
const MODULE = new URL('./id-seal.worker.ts', import.meta.url).href;
/** Sealing keeps nothing between calls: a small heap, so the thread adds little to the process's memory. */
const HEAP_LIMITS = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 };

type Call = { resolve: (seals: EncodedSeals) => void; reject: (error: Error) => void };

export function sealingThread(secret: Buffer): SealingThread {
  let current: { thread: Worker; waiting: Map<number, Call> } | undefined;
  let nextId = 0;

  const start = () => {
    const waiting = new Map<number, Call>();
    const thread = new Worker(BOOTSTRAP, {
      workerData: { module: MODULE, secret: new Uint8Array(secret) },
      resourceLimits: HEAP_LIMITS,
    });
    thread.unref();
    const refuseAll = (error: Error) => {
      for (const call of waiting.values()) call.reject(error);
      waiting.clear();
    };
    thread.on('message', (reply: SealReply) => {
      const call = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (waiting.size === 0) thread.unref();
      if ('error' in reply) call?.reject(new Error(`sealing failed: ${reply.error}`));
      else call?.resolve(reply.seals);
    });
    // A thread that fails is replaced at the next call; the calls it held are refused.
    thread.on('error', refuseAll);
    thread.on('exit', (code) => {
      if (current?.thread === thread) current = undefined;
      refuseAll(new Error(`the sealing thread stopped (exit code ${code})`));
    });
    return { thread, waiting };
  };

  return {
    sealMany(idNos) {
      if (idNos.length === 0) return Promise.resolve({ sealed: [], hashes: [] });
      current ??= start();
      const { thread, waiting } = current;
      const id = nextId++;
      return new Promise<EncodedSeals>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        // While calls wait, the process must not exit under them.
        thread.ref();
        thread.postMessage({ id, idNos } satisfies SealRequest);
      });
    },
    async close() {
      const stopping = current;
      current = undefined;
      // terminate() ends the thread; its exit refuses the calls still waiting.
      if (stopping) await stopping.thread.terminate();
    },
  };
}
