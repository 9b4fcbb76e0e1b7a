import fs from 'node:fs';
import bcrypt from 'bcrypt';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { createBcryptHasher, type PasswordHasher } from '../src/modules/auth/password-hasher.js';

const hashers: PasswordHasher[] = [];
const make = (...args: Parameters<typeof createBcryptHasher>) => {
  const h = createBcryptHasher(...args);
  hashers.push(h);
  return h;
};
afterAll(async () => {
  for (const h of hashers) await h.close();
});

/** Nice values of this process's threads other than the main one. */
function threadNices(): number[] {
  const tasks = fs.readdirSync(`/proc/${process.pid}/task`).filter((t) => Number(t) !== process.pid);
  return tasks.map((t) => Number(fs.readFileSync(`/proc/${process.pid}/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
}

describe('bcrypt hasher in low-priority worker threads', () => {
  it('hashes and verifies with real bcrypt hashes', async () => {
    const hasher = make({ cost: 4, concurrency: 2 });
    const hash = await hasher.hash('right password');
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await bcrypt.compare('right password', hash)).toBe(true);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => hasher.verify(i % 2 ? 'right password' : 'wrong', hash)));
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i % 2 === 1));
  });

  it('runs its threads at the lowest CPU priority (nice 19) and leaves the main thread alone', async () => {
    const before = threadNices().filter((n) => n === 19).length;
    const hasher = make({ cost: 4, concurrency: 3 });
    await Promise.all([hasher.hash('a'), hasher.hash('b'), hasher.hash('c')]);
    expect(threadNices().filter((n) => n === 19).length - before).toBe(3);
    const mainNice = Number(fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    expect(mainNice).toBe(0);
  });

  it('answers 503 with Retry-After when the queue is full, instead of queueing forever', async () => {
    const hasher = make({ cost: 4, concurrency: 1, maxQueue: 2 });
    const hash = await hasher.hash('pw pw pw pw');
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.verify('pw pw pw pw', hash)));
    const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    // One running, two waiting, the other three refused at once; the ones let in still complete.
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'refused'))).toEqual([true, true, true, 'refused', 'refused', 'refused']);
    expect(rejected).toHaveLength(3);
    for (const { reason } of rejected) {
      expect(reason).toBeInstanceOf(AppError);
      expect((reason as AppError).status).toBe(503);
      expect((reason as AppError).code).toBe('busy');
      expect((reason as AppError).options.retryAfterSec).toBeGreaterThan(0);
    }
    // Once the line has drained, it takes new jobs again.
    expect(await hasher.verify('pw pw pw pw', hash)).toBe(true);
  });

  it('rejects only the job that throws inside a worker, and the pool keeps serving', async () => {
    const hasher = make({ cost: 4, concurrency: 2 });
    const hash = await hasher.hash('right password');
    // bcrypt.compareSync throws on a hash that is not a string: the error comes from inside the worker.
    await expect(hasher.verify('right password', 42 as unknown as string)).rejects.toThrow(/hash must be a string/);
    await expect(hasher.hash(undefined as unknown as string)).rejects.toThrow(/arguments required/);
    // More jobs than threads after the errors, so each thread (including those that threw) takes several.
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => hasher.verify(i % 2 ? 'right password' : 'wrong', hash)));
    expect(results).toEqual(Array.from({ length: 8 }, (_, i) => i % 2 === 1));
    const hashes = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((p) => hasher.hash(p)));
    for (const [i, p] of ['a', 'b', 'c', 'd', 'e'].entries()) expect(await bcrypt.compare(p, hashes[i]!)).toBe(true);
  });

  it('answers the good jobs correctly when failing ones are mixed in', async () => {
    const hasher = make({ cost: 4, concurrency: 2 });
    const hash = await hasher.hash('pw');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 9 }, (_, i) => (i % 3 === 2 ? hasher.verify('pw', 7 as unknown as string) : hasher.verify(i % 3 ? 'pw' : 'nope', hash))),
    );
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'error'))).toEqual([false, true, 'error', false, true, 'error', false, true, 'error']);
  });

  it('after close(), refuses jobs at once instead of starting new threads', async () => {
    const hasher = createBcryptHasher({ cost: 4, concurrency: 1 });
    await hasher.hash('x');
    await hasher.close();
    await expect(hasher.hash('y')).rejects.toThrow(/closed/);
    await expect(hasher.verify('y', undefined)).rejects.toThrow(/closed/);
  });

  it('never says yes for an unknown account (compared against a dummy hash)', async () => {
    const hasher = make({ cost: 4, concurrency: 1 });
    expect(await hasher.verify('anything at all', undefined)).toBe(false);
    expect(await hasher.verify('', undefined)).toBe(false);
  });
});
