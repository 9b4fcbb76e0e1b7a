import { and, desc, eq, inArray } from 'drizzle-orm';
import type supertest from 'supertest';
import { expect } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { emailOutbox } from '../../src/db/schema.js';

/** The path of the confirmation link in an email body, as a person would click it. */
export function verifyPathIn(text: string): string {
  const match = /\/auth\/verify\/([A-Za-z0-9_-]{43})/.exec(text);
  if (!match) throw new Error('no confirmation link in this email');
  return match[0];
}

/** The newest confirmation link queued for an address (welcome or resend). */
export async function verifyPathFor(db: Db, email: string): Promise<string> {
  const [row] = await db
    .select({ text: emailOutbox.textBody })
    .from(emailOutbox)
    .where(and(eq(emailOutbox.toAddress, email), inArray(emailOutbox.kind, ['welcome', 'verify_email'])))
    .orderBy(desc(emailOutbox.id))
    .limit(1);
  if (!row) throw new Error(`no confirmation email for ${email}`);
  return verifyPathIn(row.text);
}

/** Opens the emailed link, as the person would from their mail app. */
export async function confirmEmail(agent: supertest.Agent, db: Db, email: string): Promise<supertest.Response> {
  const res = await agent.get(await verifyPathFor(db, email));
  expect(res.status).toBe(303);
  return res;
}
