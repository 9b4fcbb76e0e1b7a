import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { systemClock } from '../clock.js';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { runMigrations } from '../db/migrate.js';
import { auditLog, users } from '../db/schema.js';
import { createUserRepository } from '../modules/users/users.repository.js';
import { PasswordSchema } from '../modules/auth/auth.schemas.js';
import { EmailSchema, NameSchema, normalizeEmail } from '../modules/users/users.schemas.js';
import { createBcryptHasher } from '../modules/auth/password-hasher.js';
import { generateReferralCode } from '../modules/referral/referral-code.js';

/**
 * npm run admin:create -- --email E --name N [--password P]
 * Promotes an existing account, or creates one (printing a generated password if none
 * was given). Either way the change is written to the audit log as a command-line action.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { email: { type: 'string' }, name: { type: 'string' }, password: { type: 'string' } },
    strict: true,
  });
  const email = EmailSchema.safeParse(values.email);
  if (!email.success) {
    console.error('Usage: npm run admin:create -- --email you@example.com --name "Your Name" [--password "…"]');
    console.error(`--email: ${email.error.issues[0]?.message}`);
    return 2;
  }
  const config = loadConfig(process.env);
  const database = openDatabase(config);
  await runMigrations(database);
  const repo = createUserRepository(database.db);
  const now = systemClock.now();
  try {
    const existing = await repo.findByEmail(normalizeEmail(email.data));
    if (existing) {
      await database.transaction(async (tx) => {
        await tx.update(users).set({ role: 'admin', status: 'active' }).where(eq(users.id, existing.id));
        await tx
          .insert(auditLog)
          .values({ actorId: null, action: 'user.promote', targetType: 'user', targetId: existing.id, details: '{"via":"cli"}', createdAt: now });
      });
      console.log(`${existing.email} is now an admin.`);
      return 0;
    }
    const name = NameSchema.safeParse(values.name ?? email.data.split('@')[0]);
    if (!name.success) {
      console.error(`--name: ${name.error.issues[0]?.message}`);
      return 2;
    }
    const generated = values.password === undefined;
    const password = values.password ?? crypto.randomBytes(15).toString('base64url');
    const policy = PasswordSchema.safeParse(password);
    if (!policy.success) {
      console.error(`--password: ${policy.error.issues[0]?.message}`);
      return 2;
    }
    const hasher = createBcryptHasher({ cost: config.bcryptCost, concurrency: 1 });
    const passwordHash = await hasher.hash(password).finally(() => hasher.close());
    // The operator vouches for the address: a CLI-created admin starts confirmed.
    const created = await database.transaction(async (tx) => {
      const user = await repo.insertInTx(tx, {
        name: name.data,
        email: email.data,
        emailNormalized: normalizeEmail(email.data),
        passwordHash,
        referralCode: generateReferralCode(),
        role: 'admin',
        emailVerifiedAt: now,
        createdAt: now,
      });
      await tx
        .insert(auditLog)
        .values({ actorId: null, action: 'user.create_admin', targetType: 'user', targetId: user.id, details: '{"via":"cli"}', createdAt: now });
      return user;
    });
    console.log(`Created admin ${created.email}.`);
    if (generated) console.log(`Password (shown once, change it after logging in): ${password}`);
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
