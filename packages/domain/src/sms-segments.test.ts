import { describe, expect, it } from 'vitest';
import { GSM7_BASIC, GSM7_EXTENSION, smsSegments } from './sms-segments';

const a = (n: number) => 'a'.repeat(n);
const zhong = (n: number) => '中'.repeat(n);
const EMOJI = '😀'; // U+1F600, a surrogate pair
const EXT_B = '𠀀'; // U+20000, CJK Unified Ideographs Extension B

describe('smsSegments: GSM-7', () => {
  it('holds 160 septets in one message and 153 per segment once split', () => {
    expect(smsSegments(a(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1, perSegment: 160 });
    expect(smsSegments(a(161))).toEqual({ encoding: 'GSM-7', units: 161, segments: 2, perSegment: 153 });
    expect(smsSegments(a(306))).toMatchObject({ units: 306, segments: 2 });
    expect(smsSegments(a(307))).toMatchObject({ units: 307, segments: 3 });
  });

  it('counts the extension table as two septets each', () => {
    expect(smsSegments('€'.repeat(80))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1, perSegment: 160 });
    expect(smsSegments('€'.repeat(81))).toMatchObject({ encoding: 'GSM-7', units: 162, segments: 2 });
    for (const c of GSM7_EXTENSION) expect(smsSegments(c)).toMatchObject({ encoding: 'GSM-7', units: 2 });
    expect(smsSegments('a{b}c')).toMatchObject({ encoding: 'GSM-7', units: 7 });
  });

  it('has the 127 characters of the basic set and the 10 of the extension table', () => {
    expect(new Set(GSM7_BASIC).size).toBe(127);
    expect(new Set(GSM7_EXTENSION).size).toBe(10);
    expect(smsSegments(GSM7_BASIC)).toMatchObject({ encoding: 'GSM-7', units: 127, segments: 1 });
    // a sample of the non-ASCII letters and symbols of the basic set
    expect(smsSegments('£¥ÇΔÆßÉ¡§¿äöñüà $¤@_\r\n')).toMatchObject({ encoding: 'GSM-7', units: 22 });
  });

  it('never splits an escape sequence across segments', () => {
    // 152 + 2 + 152 = 306 septets: plain division says 2 segments, but the € cannot
    // straddle the first boundary (152 + 2 > 153), so it starts segment 2: 152 | 153 | 1
    const text = `${a(152)}€${a(152)}`;
    expect(smsSegments(text)).toEqual({ encoding: 'GSM-7', units: 306, segments: 3, perSegment: 153 });
    // the same length with the € where it fits stays at 2
    expect(smsSegments(`€${a(304)}`)).toMatchObject({ units: 306, segments: 2 });
  });
});

describe('smsSegments: UCS-2', () => {
  it('holds 70 code units in one message and 67 per segment once split', () => {
    expect(smsSegments(zhong(70))).toEqual({ encoding: 'UCS-2', units: 70, segments: 1, perSegment: 70 });
    expect(smsSegments(zhong(71))).toEqual({ encoding: 'UCS-2', units: 71, segments: 2, perSegment: 67 });
    expect(smsSegments(zhong(134))).toMatchObject({ units: 134, segments: 2 });
    expect(smsSegments(zhong(135))).toMatchObject({ units: 135, segments: 3 });
  });

  it('turns a whole GSM text into UCS-2 for one character outside GSM-7', () => {
    expect(smsSegments(`${a(100)}中`)).toMatchObject({ encoding: 'UCS-2', units: 101, segments: 2 });
    // ç (small c cedilla) is not in GSM 03.38, only Ç is; nor are ` or the curly quotes
    expect(smsSegments('ç').encoding).toBe('UCS-2');
    expect(smsSegments('`').encoding).toBe('UCS-2');
    expect(smsSegments('“a”').encoding).toBe('UCS-2');
    // in UCS-2 the extension characters are one unit like any other
    expect(smsSegments('中€')).toMatchObject({ encoding: 'UCS-2', units: 2 });
  });

  it('counts characters outside the Basic Multilingual Plane as two', () => {
    expect(smsSegments(EMOJI)).toMatchObject({ encoding: 'UCS-2', units: 2, segments: 1 });
    expect(smsSegments(EXT_B)).toMatchObject({ encoding: 'UCS-2', units: 2, segments: 1 });
    // 68 CJK and an emoji: 69 characters, 70 units, still one message
    expect(smsSegments(`${zhong(34)}${EMOJI}${zhong(34)}`)).toEqual({ encoding: 'UCS-2', units: 70, segments: 1, perSegment: 70 });
    // 69 CJK and an emoji: 70 characters, but 71 units
    expect(smsSegments(`${zhong(69)}${EMOJI}`)).toEqual({ encoding: 'UCS-2', units: 71, segments: 2, perSegment: 67 });
    expect(smsSegments(`${zhong(35)}${EMOJI}${zhong(34)}`)).toMatchObject({ units: 71, segments: 2 });
  });

  it('never splits a surrogate pair across segments', () => {
    // 66 + 2 + 66 = 134 units: plain division says 2, but the emoji moves whole to
    // segment 2: 66 | 67 | 1
    expect(smsSegments(`${zhong(66)}${EMOJI}${zhong(66)}`)).toEqual({ encoding: 'UCS-2', units: 134, segments: 3, perSegment: 67 });
    expect(smsSegments(`${zhong(66)}${EXT_B}${zhong(66)}`)).toMatchObject({ units: 134, segments: 3 });
    // the same length with the emoji inside a segment stays at 2
    expect(smsSegments(`${zhong(65)}${EMOJI}${zhong(67)}`)).toMatchObject({ units: 134, segments: 2 });
  });

  it('counts a typical Chinese reminder', () => {
    expect(smsSegments('【卢氏县政务服务】您的食品经营许可证将于2026-04-30到期，请及时办理延续。')).toEqual({
      encoding: 'UCS-2',
      units: 41,
      segments: 1,
      perSegment: 70,
    });
    // 9 + 11 + 5 + 7 + 3 + 16 + 3 + 10 + 5 + 2 + 5 + 45 (the link) + 5 + 12 + 1 = 139 units: 67 + 67 + 5
    const full =
      '【卢氏县政务服务】卢氏县示例餐饮有限公司您好，您的食品经营许可证（编号JY14112240012345）将于2026-04-30到期，' +
      '还有30天。请登录https://www.hnzwfw.gov.cn/renew/food-business办理，咨询0398-7856315。';
    expect(smsSegments(full)).toEqual({ encoding: 'UCS-2', units: 139, segments: 3, perSegment: 67 });
  });

  it('counts an empty text as no segment', () => {
    expect(smsSegments('')).toEqual({ encoding: 'GSM-7', units: 0, segments: 0, perSegment: 160 });
  });
});
