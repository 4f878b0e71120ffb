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

/** The seals of many numbers, in base64, as the licence upsert sends them to PostgreSQL. */
export interface EncodedSeals {
  sealed: string[];
  hashes: string[];
}

export interface IdSealer {
  seal(idNo: string): IdSeal;
  /** seals many numbers at once (one call for all their random IVs), in base64 */
  sealMany(idNos: string[]): EncodedSeals;
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
  const sealWith = (idNo: string, iv: Buffer): Buffer => {
    const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
    const body = Buffer.concat([cipher.update(idNo, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  };
  return {
    hash,
    seal: (idNo) => ({ sealed: sealWith(idNo, randomBytes(IV_BYTES)), hash: hash(idNo) }),
    sealMany(idNos) {
      const ivs = randomBytes(IV_BYTES * idNos.length);
      return {
        sealed: idNos.map((idNo, i) => sealWith(idNo, ivs.subarray(i * IV_BYTES, (i + 1) * IV_BYTES)).toString('base64')),
        hashes: idNos.map((idNo) => hash(idNo).toString('base64')),
      };
    },
    open(sealed) {
      const decipher = createDecipheriv('aes-256-gcm', encryptionKey, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    },
  };
}
