import type { Tx } from '../../db/client.js';
import { auditLog } from '../../db/schema.js';

/**
 * The audit log's one writer. Every action that must leave a trace (admins', API keys',
 * the settings, the webhooks deliverer) writes its row here, inside its own transaction.
 * Reading the log is the admin area's business (admin.repository.ts).
 */
export interface AuditEntry {
  actorId: number | null;
  action: string;
  targetType: string;
  targetId: number | null;
  details?: Record<string, unknown>;
  now: Date;
}

/** Written inside the action's own transaction: no action without its audit row. */
export async function auditInTx(tx: Tx, entry: AuditEntry): Promise<void> {
  await tx.insert(auditLog).values({
    actorId: entry.actorId,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    details: JSON.stringify(entry.details ?? {}),
    createdAt: entry.now,
  });
}
