/**
 * How long an SMS is, the way carriers count and bill it.
 *
 * A text made only of GSM 03.38 characters travels as GSM-7: 160 septets in a single
 * message, 153 per segment once it is split (the other septets carry the concatenation
 * header). The characters of the extension table take two septets each (an escape, then
 * the character). Any other character makes the whole text UCS-2: 70 UTF-16 code units in
 * a single message, 67 per segment once split; a character outside the Basic
 * Multilingual Plane (an emoji, a CJK extension B character) is a surrogate pair and
 * takes two.
 *
 * A segment never ends in the middle of an escape sequence or a surrogate pair: the
 * character moves whole to the next segment. So segments are counted by filling them
 * character by character, which can take one more than `ceil(units / perSegment)`.
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsLength {
  encoding: SmsEncoding;
  /** septets (GSM-7) or UTF-16 code units (UCS-2) */
  units: number;
  segments: number;
  /** units one segment holds: the single-message limit when it fits in one, else the concatenated one */
  perSegment: number;
}

/** The GSM 03.38 basic character set, in code order 0x00..0x7F, without the escape 0x1B. */
export const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅå' +
  'Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ' +
  ' !"#¤%&\'()*+,-./' +
  '0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNO' +
  'PQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmno' +
  'pqrstuvwxyzäöñüà';

/** The characters of the basic set's extension table: two septets each (escape + code). */
export const GSM7_EXTENSION = '\f^{}\\[~]|€';

const BASIC = new Set(GSM7_BASIC);
const EXTENSION = new Set(GSM7_EXTENSION);

const LIMITS: Record<SmsEncoding, { single: number; concatenated: number }> = {
  'GSM-7': { single: 160, concatenated: 153 },
  'UCS-2': { single: 70, concatenated: 67 },
};

/** The units of each character (code point) of `text` in `encoding`. */
function unitsPerCharacter(text: string, encoding: SmsEncoding): number[] {
  const characters = [...text];
  if (encoding === 'GSM-7') return characters.map((c) => (EXTENSION.has(c) ? 2 : 1));
  return characters.map((c) => c.length);
}

function isGsm7(text: string): boolean {
  for (const c of text) if (!BASIC.has(c) && !EXTENSION.has(c)) return false;
  return true;
}

export function smsSegments(text: string): SmsLength {
  const encoding: SmsEncoding = isGsm7(text) ? 'GSM-7' : 'UCS-2';
  const { single, concatenated } = LIMITS[encoding];
  const costs = unitsPerCharacter(text, encoding);
  const units = costs.reduce((sum, n) => sum + n, 0);
  if (units <= single) return { encoding, units, segments: units === 0 ? 0 : 1, perSegment: single };

  let segments = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > concatenated) {
      segments += 1;
      used = 0;
    }
    used += cost;
  }
  return { encoding, units, segments, perSegment: concatenated };
}
