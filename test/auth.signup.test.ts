import { afterAll, describe, expect, it } from 'vitest';
import { makeTestApp } from './helpers/app.js';
import { csrfFor, signup, STRONG_PASSWORD, uniqueEmail } from './helpers/forms.js';
import { onPostgres, run, userByEmail } from './helpers/db.js';
import { countUsers, fieldError, formError, inputValue, setCookieLine } from './helpers/extra.js';

const t = makeTestApp();
afterAll(() => t.close());

const CODE = /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{8}$/;

describe('POST /auth/signup: success', () => {
  it('creates the account, logs in and redirects 303 to the success page', async () => {
    const agent = t.request();
    const email = uniqueEmail('ok');
    const res = await signup(agent, { name: 'Ada Lovelace', email });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/auth/signup/success');
    expect(await countUsers(t, email)).toBe(1);
    const dash = await agent.get('/dashboard');
    expect(dash.status).toBe(200);
    expect(dash.text).toContain('Ada Lovelace');
  });

  it('sets an httpOnly, SameSite=Lax session cookie on sign-up', async () => {
    const res = await signup(t.request());
    expect(res.status).toBe(303);
    const line = setCookieLine(res, 'sid');
    expect(line).toBeDefined();
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Lax/i);
  });

  it('shows the new 8-character code and the BASE_URL/r/CODE link on the success page', async () => {
    const agent = t.request();
    const email = uniqueEmail('code');
    await signup(agent, { email });
    const page = await agent.get('/auth/signup/success');
    expect(page.status).toBe(200);
    const row = (await userByEmail(t.db, email))!;
    expect(row.referralCode).toMatch(CODE);
    expect(page.text).toContain(row.referralCode);
    expect(page.text).toContain(`http://localhost:3000/r/${row.referralCode}`);
  });

  it('shows a welcome flash message on the page after the redirect, once', async () => {
    const agent = t.request();
    await signup(agent);
    const page = await agent.get('/auth/signup/success');
    expect(page.text).toMatch(/class="flash flash-success"[^>]*>[^<]*Welcome/);
    const again = await agent.get('/auth/signup/success');
    expect(again.text).not.toMatch(/class="flash flash-success"/);
  });

  it('gives every account a different referral code', async () => {
    const a = t.request();
    const b = t.request();
    const ea = uniqueEmail('codea');
    const eb = uniqueEmail('codeb');
    await signup(a, { email: ea });
    await signup(b, { email: eb });
    expect((await userByEmail(t.db, ea))!.referralCode).not.toBe((await userByEmail(t.db, eb))!.referralCode);
  });

  it('sends anonymous visitors of the success page to the login form', async () => {
    const res = await t.request().get('/auth/signup/success');
    expect(res.status).toBe(302);
    expect(res.headers.location).toMatch(/^\/auth\/login\?next=/);
  });

  it('stores a bcrypt hash, never the password itself', async () => {
    const email = uniqueEmail('hash');
    await signup(t.request(), { email });
    const row = (await userByEmail(t.db, email))!;
    expect(row.passwordHash).not.toContain(STRONG_PASSWORD);
    expect(row.passwordHash).toMatch(/^\$2[aby]\$04\$/);
  });
});

describe('POST /auth/signup: validation', () => {
  it('re-renders the form with 400, per-field messages and the submitted values but not the password', async () => {
    const agent = t.request();
    const res = await signup(agent, { name: 'Grace Hopper', email: 'grace.hopper@example.com', password: 'Zq9xwKp' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'password')).toMatch(/at least 8 characters/i);
    expect(inputValue(res.text, 'name')).toBe('Grace Hopper');
    expect(inputValue(res.text, 'email')).toBe('grace.hopper@example.com');
    expect(res.text).not.toContain('Zq9xwKp');
    expect(await countUsers(t, 'grace.hopper@example.com')).toBe(0);
  });

  it('reports a missing name and an invalid email as separate field errors', async () => {
    const res = await signup(t.request(), { name: '   ', email: 'not-an-email' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'name')).toMatch(/name/i);
    expect(fieldError(res.text, 'email')).toMatch(/valid email/i);
    expect(fieldError(res.text, 'password')).toBeUndefined();
  });

  it('refuses a 7-character password with 400', async () => {
    const email = uniqueEmail('seven');
    const res = await signup(t.request(), { email, password: 'abcdefg' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'password')).toBeDefined();
    expect(await countUsers(t, email)).toBe(0);
  });

  it('refuses a 73-byte UTF-8 password with a message about the 72-byte limit', async () => {
    const password = 'a' + 'é'.repeat(36);
    expect(Buffer.byteLength(password)).toBe(73);
    const email = uniqueEmail('long');
    const res = await signup(t.request(), { email, password });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'password')).toMatch(/72 bytes/);
    expect(await countUsers(t, email)).toBe(0);
  });

  it("refuses a password of 37 'é' (74 bytes, only 37 characters)", async () => {
    const res = await signup(t.request(), { password: 'é'.repeat(37) });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'password')).toMatch(/72/);
  });

  it('accepts a password of exactly 72 bytes and that password logs in', async () => {
    const password = 'é'.repeat(36);
    expect(Buffer.byteLength(password)).toBe(72);
    const email = uniqueEmail('max');
    const res = await signup(t.request(), { email, password });
    expect(res.status).toBe(303);
    const other = t.request();
    const _csrf = await csrfFor(other, '/auth/login');
    const login = await other.post('/auth/login').type('form').send({ email, password, _csrf });
    expect(login.status).toBe(303);
  });

  it.each(['password1', '12345678', 'PASSWORD1'])('refuses the common password %j with 400', async (password) => {
    const email = uniqueEmail('common');
    const res = await signup(t.request(), { email, password });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'password')).toMatch(/common/i);
    expect(await countUsers(t, email)).toBe(0);
  });

  it('refuses a name longer than 60 characters', async () => {
    const res = await signup(t.request(), { name: 'x'.repeat(61) });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'name')).toMatch(/60/);
  });

  it('refuses a referral code that cannot be a code with a 400 field error', async () => {
    const email = uniqueEmail('badref');
    const res = await signup(t.request(), { email, referral_code: 'XYZ' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'referral_code')).toBeDefined();
    expect(inputValue(res.text, 'referral_code')).toBe('XYZ');
    expect(await countUsers(t, email)).toBe(0);
  });

  it('refuses a well-formed referral code that belongs to nobody with a 400 field error', async () => {
    const email = uniqueEmail('ghostref');
    const res = await signup(t.request(), { email, referral_code: 'ZZZZ2345' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'referral_code')).toMatch(/does not exist|unknown|not.*valid/i);
    expect(await countUsers(t, email)).toBe(0);
  });

  it("accepts another member's real referral code", async () => {
    const referrerEmail = uniqueEmail('referrer');
    await signup(t.request(), { email: referrerEmail });
    const code = (await userByEmail(t.db, referrerEmail))!.referralCode;
    const res = await signup(t.request(), { referral_code: code.toLowerCase() });
    expect(res.status).toBe(303);
  });
});

describe('POST /auth/signup: emails', () => {
  it('stores the email trimmed and keeps its case for display', async () => {
    const res = await signup(t.request(), { email: '  Trim.Me@Example.COM  ' });
    expect(res.status).toBe(303);
    const row = (await userByEmail(t.db, 'trim.me@example.com'))!;
    expect(row).toBeDefined();
    expect(row.email).toBe('Trim.Me@Example.COM');
  });

  it('treats Foo@X.com and foo@x.com as the same account: 409', async () => {
    const first = await signup(t.request(), { email: 'Foo@X.com' });
    expect(first.status).toBe(303);
    const second = await signup(t.request(), { email: 'foo@x.com' });
    expect(second.status).toBe(409);
    expect(await countUsers(t, 'foo@x.com')).toBe(1);
  });

  it('keeps +tags: ada+promo@ and ada@ are different accounts', async () => {
    const a = await signup(t.request(), { email: 'ada.tag@example.org' });
    const b = await signup(t.request(), { email: 'ada.tag+promo@example.org' });
    expect(a.status).toBe(303);
    expect(b.status).toBe(303);
    expect((await userByEmail(t.db, 'ada.tag+promo@example.org'))?.email).toBe('ada.tag+promo@example.org');
  });

  it.each([
    ['CR/LF header injection', 'evil@example.com\r\nBcc: victim@example.com'],
    ['a trailing line feed', 'lf@example.com\n'],
    ['a tab', 'tab\t@example.com'],
    ['a NUL byte', 'nul\u0000@example.com'],
  ])('refuses an email with %s with 400', async (_label, email) => {
    const before = await countUsers(t);
    const res = await signup(t.request(), { email });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'email')).toBeDefined();
    expect(await countUsers(t)).toBe(before);
  });

  it('returns 409 with a message when the email is taken, and creates no second account', async () => {
    const email = uniqueEmail('taken');
    await signup(t.request(), { email, name: 'First Owner' });
    const res = await signup(t.request(), { email, name: 'Second Try' });
    expect(res.status).toBe(409);
    expect(fieldError(res.text, 'email')).toMatch(/already exists/i);
    expect(inputValue(res.text, 'name')).toBe('Second Try');
    expect(await countUsers(t, email)).toBe(1);
    expect((await userByEmail(t.db, email))!.name).toBe('First Owner');
  });

  it('creates exactly one account when 20 sign-ups with one email arrive at once', async () => {
    const email = uniqueEmail('race');
    const agents = Array.from({ length: 20 }, () => t.request());
    const tokens = await Promise.all(agents.map((a) => csrfFor(a, '/auth/signup')));
    const results = await Promise.all(
      agents.map((a, i) =>
        a
          .post('/auth/signup')
          .type('form')
          .send({ name: `Racer ${i}`, email, password: STRONG_PASSWORD, referral_code: '', _csrf: tokens[i] }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 303)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(await countUsers(t, email)).toBe(1);
  });
});

describe('POST /auth/signup: malformed input', () => {
  it('answers 400, not 500, to email[]=a&email[]=b', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/signup');
    const res = await agent
      .post('/auth/signup')
      .type('form')
      .send(`name=Arr&email[]=a%40example.com&email[]=b%40example.com&password=${encodeURIComponent(STRONG_PASSWORD)}&_csrf=${encodeURIComponent(_csrf)}`);
    expect(res.status).toBe(400);
  });

  it('answers 400, not 500, to a repeated email key', async () => {
    const before = await countUsers(t);
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/signup');
    const res = await agent
      .post('/auth/signup')
      .type('form')
      .send(`name=Rep&email=a%40example.com&email=b%40example.com&password=${encodeURIComponent(STRONG_PASSWORD)}&_csrf=${encodeURIComponent(_csrf)}`);
    expect(res.status).toBe(400);
    expect(await countUsers(t)).toBe(before);
  });

  it('answers 400, not 500, to objects and arrays in a JSON body', async () => {
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/signup');
    const res = await agent
      .post('/auth/signup')
      .set('x-csrf-token', _csrf)
      .send({ name: ['a', 'b'], email: { $gt: '' }, password: { length: 100 }, referral_code: [] });
    expect(res.status).toBe(400);
  });

  it('answers 413 to a form body over 100 kB', async () => {
    const before = await countUsers(t);
    const agent = t.request();
    const _csrf = await csrfFor(agent, '/auth/signup');
    const res = await agent
      .post('/auth/signup')
      .type('form')
      .send({ name: 'x'.repeat(110 * 1024), email: uniqueEmail('big'), password: STRONG_PASSWORD, _csrf });
    expect(res.status).toBe(413);
    expect(await countUsers(t)).toBe(before);
  });
});

describe('GET /auth/signup', () => {
  it('redirects a logged-in user to the dashboard', async () => {
    const agent = t.request();
    await signup(agent);
    const res = await agent.get('/auth/signup');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/dashboard');
  });

  it('refuses a sign-up POST from a user who is already logged in', async () => {
    const agent = t.request();
    await signup(agent);
    const before = await countUsers(t);
    const _csrf = await csrfFor(agent, '/dashboard');
    const res = await agent
      .post('/auth/signup')
      .type('form')
      .send({ name: 'Second', email: uniqueEmail('second'), password: STRONG_PASSWORD, _csrf });
    expect(res.status).not.toBe(303);
    expect(await countUsers(t)).toBe(before);
  });

  it('pre-fills the referral_code field from ?ref=CODE', async () => {
    const res = await t.request().get('/auth/signup?ref=7K3M9PQR');
    expect(res.status).toBe(200);
    expect(inputValue(res.text, 'referral_code')).toBe('7K3M9PQR');
  });

  it('upper-cases a lower-case ?ref with a dash before pre-filling it', async () => {
    const res = await t.request().get('/auth/signup?ref=7k3m-9pqr');
    expect(inputValue(res.text, 'referral_code')).toBe('7K3M-9PQR');
  });

  it('pre-fills the referral_code field from the ref cookie', async () => {
    const res = await t.request().get('/auth/signup').set('Cookie', 'ref=ABCD2345');
    expect(inputValue(res.text, 'referral_code')).toBe('ABCD2345');
  });

  it('ignores a ?ref that is not a code and escapes nothing into the page', async () => {
    const res = await t.request().get('/auth/signup?ref=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(res.status).toBe(200);
    expect(inputValue(res.text, 'referral_code')).toBe('');
    expect(res.text).not.toContain('<script>alert(1)');
  });

  it('renders labelled name, email, password and referral_code inputs with a CSRF field', async () => {
    const res = await t.request().get('/auth/signup');
    for (const name of ['name', 'email', 'password', 'referral_code', '_csrf']) {
      expect(res.text).toMatch(new RegExp(`<input[^>]*name="${name}"`));
    }
    expect(formError(res.text)).toBeUndefined();
  });
});

describe('POST /auth/signup: the account and its session commit together', () => {
  const own = makeTestApp();
  afterAll(() => own.close());

  it('leaves no account behind when its session cannot be stored', async () => {
    // Sessions refused by the database itself, as a full disk would refuse the row.
    if (onPostgres) {
      await run(own.db, "create function refuse_sessions() returns trigger language plpgsql as $$ begin raise exception 'sessions refused'; end $$");
      await run(own.db, 'create trigger refuse_sessions before insert on sessions for each row execute function refuse_sessions()');
    } else {
      await run(own.db, "create trigger refuse_sessions before insert on sessions begin select raise(abort, 'sessions refused'); end");
    }
    const email = uniqueEmail('sessionless');
    const res = await signup(own.request(), { email });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await userByEmail(own.db, email)).toBeUndefined();

    await run(own.db, onPostgres ? 'drop trigger refuse_sessions on sessions' : 'drop trigger refuse_sessions');
    const agent = own.request();
    expect((await signup(agent, { email })).status).toBe(303);
    expect((await agent.get('/dashboard')).status).toBe(200);
  });
});
