import { defineConfig } from 'vitest/config';

// Fault injection (npm run test:faults): real processes killed, disks filled, restarts
// under load. One file at a time: each one loads the machine on purpose.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.faults.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
