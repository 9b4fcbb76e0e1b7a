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

/**
 * The storage cannot take a write or answer now, for reasons that are not the request's
 * fault and usually pass: a full disk, an I/O error, a read-only file or server, a lock
 * held past the busy timeout, a lost or refusing PostgreSQL server. Returns the driver's
 * code (for the log), or null for anything else. Such errors answer 503 + Retry-After.
 */
export function storageFault(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (/^SQLITE_(FULL|IOERR|READONLY|BUSY|CANTOPEN|LOCKED|NOMEM|PROTOCOL)/.test(code)) return code;
      // PostgreSQL SQLSTATE classes: 08 connection, 53 insufficient resources (disk full,
      // out of memory, too many connections), 57P admin/crash shutdown or cannot connect
      // now, 25006 read-only transaction (a standby), 55P03 lock not available.
      if (/^(08|53)[0-9A-Z]{3}$/.test(code) || /^57P0[1-4]$/.test(code) || code === '25006' || code === '55P03') return code;
      // The socket to PostgreSQL.
      if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'ENOSPC', 'EROFS', 'EIO'].includes(code)) return code;
    }
    // node-postgres's pool: no connection within connectionTimeoutMillis, or a client lost mid-query.
    if (/^(timeout exceeded when trying to connect|Connection terminated)/.test(e.message)) return 'PG_CONNECTION';
  }
  return null;
}
