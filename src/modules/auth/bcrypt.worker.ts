/**
 * Piscina worker for password-hasher.ts: runs bcrypt synchronously, one job at a time.
 *
 * On load, the thread lowers its own CPU priority to the minimum (nice 19; Linux lets a
 * thread do that to itself). The event loop thread keeps normal priority, so under a
 * login flood the kernel still gives it the CPU first: page views stay fast while bcrypt
 * uses whatever is left, on every core.
 */
import fs from 'node:fs';
import os from 'node:os';
import bcrypt from 'bcrypt';

try {
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  os.setPriority(tid, 19);
} catch {
  // Not Linux (no /proc/thread-self): run at normal priority.
}

export type BcryptJob = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

export default function runBcryptJob(job: BcryptJob): string | boolean {
  return job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash);
}
