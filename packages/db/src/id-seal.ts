import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Holders' id numbers (resident ids, credit codes) are stored sealed: AES-256-GCM for
 * the number itself, an HMAC for finding and comparing it without opening it, and a
 * masked copy for display. Both keys come from one secret (PII_KEY) through HKDF.
 */
export interface IdSeal {
  sealed: Buffer;
  hash: Buffer;
}

export interface IdSealer {
  seal(idNo: string): IdSeal;
  /** seal for many numbers at once: one call for all their random IVs */
  sealMany(idNos: string[]): IdSeal[];
  /** the keyed hash alone, for look-ups */
  hash(idNo: string): Buffer;
  open(sealed: Buffer): string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function idSealer(secret: Buffer): IdSealer {
  if (secret.length < 32) throw new Error('the id-number key must be at least 32 bytes');
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
  const encryptionKey = derive('license-reminders id-number encryption');
  const hashKey = derive('license-reminders id-number lookup');
  const hash = (idNo: string) => createHmac('sha256', hashKey).update(idNo).digest();
  const sealWith = (idNo: string, iv: Buffer): IdSeal => {
    const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
    const body = Buffer.concat([cipher.update(idNo, 'utf8'), cipher.final()]);
    return { sealed: Buffer.concat([iv, cipher.getAuthTag(), body]), hash: hash(idNo) };
  };
  return {
    hash,
    seal: (idNo) => sealWith(idNo, randomBytes(IV_BYTES)),
    sealMany(idNos) {
      const ivs = randomBytes(IV_BYTES * idNos.length);
      return idNos.map((idNo, i) => sealWith(idNo, ivs.subarray(i * IV_BYTES, (i + 1) * IV_BYTES)));
    },
    open(sealed) {
      const decipher = createDecipheriv('aes-256-gcm', encryptionKey, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    },
  };
}
