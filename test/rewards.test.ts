import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from './helpers/app.js';
import { countOf, one, openDatabaseOf, query, userByEmail } from './helpers/db.js';
import { STRONG_PASSWORD, signup, uniqueEmail } from './helpers/forms.js';
import { confirmEmail, verifyPathIn } from './helpers/mailbox.js';
import { HttpClient, startServer, type RunningServer } from './helpers/server.js';

describe('rewards on the dashboard', () => {
  let t: TestApp;
  beforeAll(() => {
    t = makeTestApp();
  });
  afterAll(() => t.close());

  it('comes with default tiers so a new user sees progress to the first one', async () => {
    const agent = t.request();
    await signup(agent);
    const dash = await agent.get('/dashboard');
    expect(dash.text).toContain('Next: <strong>First friend</strong> at 1 referral<');
    expect(dash.text).toMatch(/<progress value="0" max="100"/);
    expect(dash.text).toContain('No rewards yet');
  });

  it('awards a tier on the referral that reaches it, queues its email, and moves the bar', async () => {
    const agent = t.request();
    const email = uniqueEmail('earner');
    await signup(agent, { email });
    await confirmEmail(agent, t.db, email);
    const code = (await userByEmail(t.db, email))!.referralCode;
    await signup(t.request(), { referral_code: code });
    await signup(t.request(), { referral_code: code });
    const dash = await agent.get('/dashboard');
    expect(dash.text).toContain('<strong>First friend</strong>');
    expect(dash.text).toContain('Next: <strong>Early access</strong> at 3 referrals');
    expect(dash.text).toMatch(/data-stat="remaining">1 to go/);
    expect(dash.text).toMatch(/<progress value="66" max="100"/);
    const mails = await query(t.db, "select subject from email_outbox where to_address = ? and kind = 'reward_earned'", email);
    expect(mails).toEqual([{ subject: 'You earned a reward: First friend' }]);
  });
});

describe('award once under concurrency (real server, shared database)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(server.dir, { recursive: true, force: true });
  });

  it('awards each tier exactly once when 12 friends sign up at the same moment', async () => {
    const owner = new HttpClient(server.url);
    const token = await owner.csrf('/auth/signup');
    await owner.request('POST', '/auth/signup', {
      form: { name: 'Owner', email: 'owner@reward.test', password: STRONG_PASSWORD, referral_code: '', _csrf: token },
    });
    const database = openDatabaseOf(server);
    const db = database.db;
    try {
      // Reward emails go only to confirmed addresses: the owner opens their link first.
      const welcome = await one<{ text_body: string }>(db, "select text_body from email_outbox where to_address = 'owner@reward.test' and kind = 'welcome'");
      expect((await owner.request('GET', verifyPathIn(welcome!.text_body))).status).toBe(303);
      const code = (await userByEmail(db, 'owner@reward.test'))!.referralCode;
      const friends = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const c = new HttpClient(server.url);
          const csrf = await c.csrf('/auth/signup');
          return () =>
            c.request('POST', '/auth/signup', {
              form: { name: `F${i}`, email: `f${i}@reward.test`, password: STRONG_PASSWORD, referral_code: code, _csrf: csrf },
            });
        }),
      );
      const results = await Promise.all(friends.map((f) => f()));
      expect(results.every((r) => r.status === 303)).toBe(true);
      const rewards = await query(
        db,
        "select t.threshold, count(*) as n from user_rewards r join reward_tiers t on t.id = r.tier_id join users u on u.id = r.user_id where u.email_normalized = 'owner@reward.test' group by t.threshold order by t.threshold",
      );
      expect(rewards).toEqual([
        { threshold: 1, n: 1 },
        { threshold: 3, n: 1 },
        { threshold: 5, n: 1 },
        { threshold: 10, n: 1 },
      ]);
      const emails = await countOf(db, "select count(*) from email_outbox where kind = 'reward_earned' and to_address = 'owner@reward.test'");
      expect(emails).toBe(4);
    } finally {
      await database.close();
    }
  });
});
