// The worker side of id-seal.thread.ts: seals what it is sent, in order.
import { parentPort, workerData } from 'node:worker_threads';
import { idSealer } from './id-seal';
import type { SealReply, SealRequest } from './id-seal.thread';

const sealer = idSealer(Buffer.from((workerData as { secret: Uint8Array }).secret));
parentPort!.on('message', ({ id, idNos }: SealRequest) => {
  let reply: SealReply;
  try {
    reply = { id, seals: sealer.sealMany(idNos) };
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
