/** The driver error behind a Drizzle error (Drizzle may wrap it as `cause`). */
function driverError(err: unknown): (Error & { code?: unknown; table?: unknown; detail?: unknown }) | null {
  if (!(err instanceof Error)) return null;
  const cause = (err as { cause?: unknown }).cause;
  if ((err as { code?: unknown }).code === undefined && cause instanceof Error) return cause;
  return err;
}

/**
 * The column named by a UNIQUE violation as "table.column" (e.g. "users.email_normalized"),
 * on either engine, or null for any other error.
 */
export function uniqueViolation(err: unknown): string | null {
  const e = driverError(err);
  if (!e) return null;
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return /UNIQUE constraint failed: ([\w.]+)/.exec(e.message)?.[1] ?? '';
  }
  if (e.code === '23505') {
    // "Key (email_normalized)=(…) already exists."
    const column = /^Key \(([\w, ]+)\)=/.exec(typeof e.detail === 'string' ? e.detail : '')?.[1];
    return typeof e.table === 'string' && column ? `${e.table}.${column}` : '';
  }
  return null;
}

/** A PostgreSQL unit of work that lost a race it may simply run again (deadlock, serialization). */
export function isRetryable(err: unknown): boolean {
  const code = driverError(err)?.code;
  return code === '40001' || code === '40P01';
}
