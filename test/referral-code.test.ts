import { describe, expect, it } from 'vitest';
import {
  CODE_ALPHABET,
  CODE_LENGTH,
  codeCandidates,
  generateReferralCode,
  normalizeReferralCode,
  ReferralCodeInputSchema,
} from '../src/modules/referral/referral-code.js';

describe('referral code alphabet', () => {
  it('is the 32 symbols of Crockford base32, without I, L, O or U', () => {
    expect(CODE_ALPHABET).toBe('0123456789ABCDEFGHJKMNPQRSTVWXYZ');
    expect(new Set(CODE_ALPHABET).size).toBe(32);
    for (const confusing of ['I', 'L', 'O', 'U']) expect(CODE_ALPHABET).not.toContain(confusing);
  });
});

describe('generateReferralCode', () => {
  it('makes 8-character codes from the alphabet only', () => {
    expect(CODE_LENGTH).toBe(8);
    for (let i = 0; i < 500; i++) {
      const code = generateReferralCode();
      expect(code).toHaveLength(8);
      expect([...code].every((ch) => CODE_ALPHABET.includes(ch))).toBe(true);
    }
  });

  it('maps random bytes onto the alphabet without bias (byte & 31)', () => {
    const bytes = Buffer.from([0, 1, 31, 32, 63, 200, 255, 10]);
    expect(generateReferralCode(() => bytes)).toBe('01Z0Z8ZA');
  });

  it('draws its randomness from the injected source, 8 bytes at a time', () => {
    const asked: number[] = [];
    generateReferralCode((n) => {
      asked.push(n);
      return Buffer.alloc(n, 7);
    });
    expect(asked).toEqual([8]);
  });

  it('produces practically unique codes', () => {
    const codes = new Set(Array.from({ length: 2000 }, () => generateReferralCode()));
    expect(codes.size).toBeGreaterThanOrEqual(1999);
  });

  it('uses every symbol of the alphabet over many draws', () => {
    const seen = new Set(Array.from({ length: 500 }, () => generateReferralCode()).join(''));
    expect(seen.size).toBe(32);
  });
});

describe('normalizeReferralCode', () => {
  it('accepts a canonical code unchanged', () => {
    expect(normalizeReferralCode('7K3M9PQR')).toBe('7K3M9PQR');
  });

  it('upper-cases lower-case input', () => {
    expect(normalizeReferralCode('7k3m9pqr')).toBe('7K3M9PQR');
  });

  it('reads O as 0 and I or L as 1', () => {
    expect(normalizeReferralCode('OoIiLl23')).toBe('00111123');
  });

  it('drops dashes and surrounding or inner spaces', () => {
    expect(normalizeReferralCode(' 7K3M-9PQR ')).toBe('7K3M9PQR');
    expect(normalizeReferralCode('7K3M 9PQR')).toBe('7K3M9PQR');
  });

  it.each(['7K3M9PQ', '7K3M9PQRS', '', '--------'])('rejects %j (wrong length)', (input) => {
    expect(normalizeReferralCode(input)).toBeNull();
  });

  it.each(['7K3M9PQU', '7K3M9PQ!', '7K3M9PQ_', 'ÄK3M9PQR'])('rejects %j (a symbol outside the alphabet)', (input) => {
    expect(normalizeReferralCode(input)).toBeNull();
  });
});

describe('ReferralCodeInputSchema', () => {
  it('treats an empty or missing field as no code', () => {
    expect(ReferralCodeInputSchema.parse('')).toBeNull();
    expect(ReferralCodeInputSchema.parse('   ')).toBeNull();
    expect(ReferralCodeInputSchema.parse(undefined)).toBeNull();
  });

  it('keeps a typed code as typed, trimmed and upper-cased: chosen codes may contain dashes', () => {
    expect(ReferralCodeInputSchema.parse(' 7k3m-9pqr ')).toBe('7K3M-9PQR');
    expect(ReferralCodeInputSchema.parse('ada-love')).toBe('ADA-LOVE');
  });

  it('reads a typed code as a chosen code first, then as the generated code it spells', () => {
    expect(codeCandidates('7k3m-9pqr')).toEqual(['7K3M-9PQR', '7K3M9PQR']);
    expect(codeCandidates('7K3M9PQR')).toEqual(['7K3M9PQR']);
    expect(codeCandidates('olga-2024')).toEqual(['OLGA-2024', '01GA2024']);
    expect(codeCandidates('ab')).toEqual([]);
  });

  it('fails with a message for something that cannot be a code', () => {
    const result = ReferralCodeInputSchema.safeParse('no!');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/referral code/i);
  });

  it('fails for arrays and objects', () => {
    expect(ReferralCodeInputSchema.safeParse(['7K3M9PQR']).success).toBe(false);
    expect(ReferralCodeInputSchema.safeParse({ code: '7K3M9PQR' }).success).toBe(false);
  });
});
