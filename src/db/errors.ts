/** The column named by a UNIQUE violation (e.g. "users.email_normalized"), or null for any other error. */
export function uniqueViolation(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return null;
  const match = /UNIQUE constraint failed: ([\w.]+)/.exec(err.message);
  return match?.[1] ?? '';
}
