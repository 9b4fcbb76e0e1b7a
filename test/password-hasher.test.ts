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
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    expect(rejected).toHaveLength(3);
    expect(rejected[0]!.reason).toBeInstanceOf(AppError);
    expect((rejected[0]!.reason as AppError).status).toBe(503);
    expect((rejected[0]!.reason as AppError).options.retryAfterSec).toBeGreaterThan(0);
  });

  it('never says yes for an unknown account (compared against a dummy hash)', async () => {
    const hasher = make({ cost: 4, concurrency: 1 });
    expect(await hasher.verify('anything at all', undefined)).toBe(false);
    expect(await hasher.verify('', undefined)).toBe(false);
  });
});
