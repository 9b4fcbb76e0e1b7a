import { afterEach, vi } from 'vitest';

// A test that makes the app print to console.error has hidden a failure: fail it loudly.
const original = console.error;
let errors: unknown[][] = [];
console.error = (...args: unknown[]) => {
  errors.push(args);
  original(...args);
};
afterEach(() => {
  const seen = errors;
  errors = [];
  vi.restoreAllMocks();
  if (seen.length) throw new Error(`console.error was called ${seen.length} time(s): ${String(seen[0]?.[0])}`);
});
