import crypto from 'node:crypto';
import bcrypt from 'bcrypt';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against a hash; with no hash, burns the same time against a dummy one. */
  verify(password: string, hash: string | undefined): Promise<boolean>;
}

/** bcrypt's async API runs on libuv's thread pool, so hashing never blocks the event loop. */
export function createBcryptHasher(cost: number): PasswordHasher {
  let dummy: Promise<string> | undefined;
  const dummyHash = () => (dummy ??= bcrypt.hash(crypto.randomBytes(16).toString('hex'), cost));
  return {
    hash: (password) => bcrypt.hash(password, cost),
    async verify(password, hash) {
      const ok = await bcrypt.compare(password, hash ?? (await dummyHash()));
      return hash !== undefined && ok;
    },
  };
}
