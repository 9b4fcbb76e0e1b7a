import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { AppError } from '../src/errors.js';
import { createBcryptHasher } from '../src/modules/auth/password-hasher.js';

describe('bcrypt hasher with a concurrency limit', () => {
  it('never runs more hashes at once than allowed, and every caller gets the right answer', async () => {
    const real = bcrypt.compare.bind(bcrypt) as (a: string, b: string) => Promise<boolean>;
    let inFlight = 0;
    let peak = 0;
    vi.spyOn(bcrypt, 'compare').mockImplementation((async (a: string, b: string) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      try {
        return await real(a, b);
      } finally {
        inFlight -= 1;
      }
    }) as never);
    const hasher = createBcryptHasher({ cost: 4, concurrency: 2 });
    const hash = await hasher.hash('right password');
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => hasher.verify(i % 2 ? 'right password' : 'wrong', hash)));
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i % 2 === 1));
    expect(peak).toBe(2);
  });

  it('answers 503 with Retry-After when the queue is full, instead of queueing forever', async () => {
    const hasher = createBcryptHasher({ cost: 4, concurrency: 1, maxQueue: 2 });
    const hash = await hasher.hash('pw pw pw pw');
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.verify('pw pw pw pw', hash)));
    const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    expect(rejected).toHaveLength(3);
    expect(rejected[0]!.reason).toBeInstanceOf(AppError);
    expect((rejected[0]!.reason as AppError).status).toBe(503);
    expect((rejected[0]!.reason as AppError).options.retryAfterSec).toBeGreaterThan(0);
  });

  it('compares an unknown account against a dummy hash and never says yes', async () => {
    const hasher = createBcryptHasher({ cost: 4, concurrency: 1 });
    const spy = vi.spyOn(bcrypt, 'compare');
    expect(await hasher.verify('anything at all', undefined)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});
