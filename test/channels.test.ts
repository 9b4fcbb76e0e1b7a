import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../src/clock.js';
import { createTestClock, makeTestApp, type TestApp } from './helpers/app.js';
import { bare, setCookieLine, unescapeHtml } from './helpers/extra.js';
import { countOf, one, query, run, userByEmail } from './helpers/db.js';
import { csrfFor, signup, uniqueEmail } from './helpers/forms.js';
import { confirmEmail } from './helpers/mailbox.js';

/**
 * Channels: where clicks and referred sign-ups come from (`?src=` and utm tags), the
 * funnel per channel that /admin draws from channel_days, and the viral coefficient.
 * The default CREDIT_ON=verified, without the fraud screen (every test client is
 * 127.0.0.1): a referral is credited when the friend confirms their address.
 */
const ADMIN = 'channels-boss@example.com';
const clock = createTestClock(new Date('2026-03-10T12:00:00Z'));
let t: TestApp;
let admin: ReturnType<TestApp['request']>;

beforeAll(async () => {
  t = makeTestApp({ ADMIN_EMAILS: ADMIN, FRAUD_SCREEN: 'off' }, { clock });
  admin = t.request();
  expect((await signup(admin, { email: ADMIN, name: 'Channel Boss' })).status).toBe(303);
});
afterAll(() => t.close());

async function newReferrer(name = 'Referrer') {
  const agent = t.request();
  const email = uniqueEmail('chref');
  expect((await signup(agent, { name, email })).status).toBe(303);
  const user = (await userByEmail(t.db, email))!;
  return { agent, email, user, code: user.referralCode };
}

interface Tagged {
  channel: string;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
}

const lastClickOf = (referrerId: number) =>
  one<Tagged>(t.db, 'select channel, utm_source, utm_medium, utm_campaign from referral_clicks where referrer_id = ? order by id desc limit 1', referrerId);

const referralOf = async (email: string) => {
  const user = (await userByEmail(t.db, email))!;
  return (await one<Tagged & { referrer_id: number }>(
    t.db,
    'select channel, utm_source, utm_medium, utm_campaign, referrer_id from referrals where referred_user_id = ?',
    user.id,
  ))!;
};

/** What channel_days should hold, recomputed from the rows themselves. */
async function bruteForce() {
  const clicks = await query<{ day: number; channel: string; n: number }>(
    t.db,
    'select created_at / 86400000 as day, channel, count(*) as n from referral_clicks group by 1, 2',
  );
  const refs = await query<{ day: number; channel: string; signups: number; confirmed: number; credited: number }>(
    t.db,
    `select r.created_at / 86400000 as day, r.channel, count(*) as signups,
       sum(case when u.email_verified_at is not null then 1 else 0 end) as confirmed,
       sum(case when r.status = 'credited' then 1 else 0 end) as credited
     from referrals r join users u on u.id = r.referred_user_id group by 1, 2`,
  );
  const all = new Map<string, [number, number, number, number]>();
  const at = (day: number, channel: string) => {
    const key = `${Number(day)}|${channel}`;
    if (!all.has(key)) all.set(key, [0, 0, 0, 0]);
    return all.get(key)!;
  };
  for (const c of clicks) at(c.day, c.channel)[0] += Number(c.n);
  for (const r of refs) {
    const row = at(r.day, r.channel);
    row[1] += Number(r.signups);
    row[2] += Number(r.confirmed);
    row[3] += Number(r.credited);
  }
  return new Map([...all].filter(([, v]) => v.some((n) => n !== 0)));
}

async function table() {
  const rows = await query<{ day: number; channel: string; clicks: number; signups: number; confirmed: number; credited: number }>(
    t.db,
    'select day, channel, clicks, signups, confirmed, credited from channel_days',
  );
  return new Map(
    rows
      .map((r) => [`${Number(r.day)}|${r.channel}`, [Number(r.clicks), Number(r.signups), Number(r.confirmed), Number(r.credited)]] as const)
      .filter(([, v]) => v.some((n) => n !== 0)),
  );
}

describe('the channel of a click on /r/:code', () => {
  it('records a known src and the utm tags on the click, and keeps them in a cookie for the sign-up', async () => {
    const { user, code } = await newReferrer();
    const res = await bare(t).get(`/r/${code}?src=whatsapp&utm_source=newsletter&utm_medium=email&utm_campaign=spring-launch`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/auth/signup?ref=${code}`);
    expect(await lastClickOf(user.id)).toEqual({ channel: 'whatsapp', utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring-launch' });
    const line = setCookieLine(res, 'ref_ch')!;
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/Max-Age=2592000/);
  });

  it('files a click without src under "link", an unknown src under "other", and reads src in any case', async () => {
    const { user, code } = await newReferrer();
    await bare(t).get(`/r/${code}`);
    expect((await lastClickOf(user.id))?.channel).toBe('link');
    await bare(t).get(`/r/${code}?src=tiktok`);
    expect((await lastClickOf(user.id))?.channel).toBe('other');
    await bare(t).get(`/r/${code}?src=LinkedIn`);
    expect((await lastClickOf(user.id))?.channel).toBe('linkedin');
    await bare(t).get(`/r/${code}?src=qr&src=x`);
    expect((await lastClickOf(user.id))?.channel).toBe('qr');
  });

  it('never refuses a link for its tags: hostile, oversized and structured values are cleaned or dropped', async () => {
    const { user, code } = await newReferrer();
    const cases: [string, Partial<Tagged>][] = [
      [`utm_source=${'a'.repeat(500)}`, { utm_source: 'a'.repeat(100) }],
      ['utm_campaign=%00%0d%0aSet-Cookie:%20x%3D1', { utm_campaign: 'Set-Cookie: x=1' }],
      ['utm_medium=%20%20', { utm_medium: null }],
      ['src[a]=1&utm_source[b]=2', { channel: 'link', utm_source: null }],
      ['utm_source=%3Cscript%3Ealert(1)%3C%2Fscript%3E', { utm_source: '<script>alert(1)</script>' }],
      ['src=%F0%9F%92%A5', { channel: 'other' }],
    ];
    for (const [q, expected] of cases) {
      const res = await bare(t).get(`/r/${code}?${q}`);
      expect(res.status, q).toBe(302);
      expect(await lastClickOf(user.id), q).toMatchObject(expected);
    }
  });
});

describe('the channel of a referred sign-up', () => {
  it('comes from the last link clicked, with its tags; the cookies go once the account exists', async () => {
    const { code, user } = await newReferrer();
    const visitor = t.request();
    await visitor.get(`/r/${code}?src=telegram&utm_campaign=friends`);
    const email = uniqueEmail('viatg');
    const res = await signup(visitor, { email, referral_code: code });
    expect(res.status).toBe(303);
    expect(setCookieLine(res, 'ref_ch')).toMatch(/ref_ch=;/);
    expect(await referralOf(email)).toEqual({ channel: 'telegram', utm_source: null, utm_medium: null, utm_campaign: 'friends', referrer_id: user.id });
  });

  it('is in the integration API and webhooks’ referral, with its tags', async () => {
    const _csrf = await csrfFor(admin, '/admin/api-keys');
    const made = await admin.post('/admin/api-keys').type('form').send({ name: 'channels', scope: 'read', _csrf });
    const key = /value="(rk_[A-Za-z0-9_-]{43})"/.exec(made.text)![1]!;
    const { code } = await newReferrer();
    const visitor = t.request();
    await visitor.get(`/r/${code}?src=email&utm_source=digest&utm_medium=mail&utm_campaign=may`);
    const email = uniqueEmail('viaapi');
    await signup(visitor, { email, referral_code: code });
    const referred = (await userByEmail(t.db, email))!;
    const list = await bare(t).get('/api/v1/referrals?limit=100').set('Authorization', `Bearer ${key}`);
    expect(list.status).toBe(200);
    const found = (list.body as { data: { referred_id: number; channel: string; utm: unknown }[] }).data.find((r) => r.referred_id === referred.id);
    expect(found).toMatchObject({ channel: 'email', utm: { source: 'digest', medium: 'mail', campaign: 'may' } });
  });

  it('is "code" when the code was typed: none clicked, or another person’s than the link’s', async () => {
    const a = await newReferrer('Link Owner');
    const b = await newReferrer('Code Owner');
    const typedOnly = uniqueEmail('typed');
    expect((await signup(t.request(), { email: typedOnly, referral_code: b.code.toLowerCase() })).status).toBe(303);
    expect(await referralOf(typedOnly)).toMatchObject({ channel: 'code', utm_campaign: null, referrer_id: b.user.id });

    const visitor = t.request();
    await visitor.get(`/r/${a.code}?src=x&utm_campaign=a-campaign`);
    const other = uniqueEmail('typedother');
    expect((await signup(visitor, { email: other, referral_code: b.code })).status).toBe(303);
    expect(await referralOf(other)).toMatchObject({ channel: 'code', utm_campaign: null, referrer_id: b.user.id });
  });

  it('is "code" for a code applied from the dashboard after signing up', async () => {
    const { code, user } = await newReferrer();
    const late = t.request();
    const email = uniqueEmail('late');
    await signup(late, { email });
    const _csrf = await csrfFor(late, '/dashboard');
    expect((await late.post('/referral/process_referral').type('form').send({ referral_code: code, _csrf })).status).toBe(303);
    expect(await referralOf(email)).toMatchObject({ channel: 'code', referrer_id: user.id });
  });

  it('ignores a forged or malformed channel cookie (the code still counts, as typed)', async () => {
    const { code, user } = await newReferrer();
    const forged = [
      'not json',
      JSON.stringify({ code, channel: 'evil', utmSource: null, utmMedium: null, utmCampaign: null }),
      JSON.stringify({ code, channel: 'x', utmSource: 'a'.repeat(101), utmMedium: null, utmCampaign: null }),
      JSON.stringify({ code, channel: 'x' }),
      JSON.stringify([code, 'x']),
      `j:${JSON.stringify({ code, channel: 'x' })}`,
    ];
    for (const value of forged) {
      const visitor = t.request();
      const email = uniqueEmail('forged');
      const _csrf = await csrfFor(visitor, '/auth/signup');
      const res = await visitor
        .post('/auth/signup')
        .set('Cookie', `ref_ch=${encodeURIComponent(value)}`)
        .type('form')
        .send({ name: 'Forger', email, password: 'correct horse battery staple', referral_code: code, _csrf });
      expect(res.status, value).toBe(303);
      expect(await referralOf(email), value).toMatchObject({ channel: 'code', utm_source: null, referrer_id: user.id });
    }
  });

  it('a well-formed cookie for the code is taken as it is: the channel is only a statistic, never credit', async () => {
    const { code } = await newReferrer();
    const visitor = t.request();
    const email = uniqueEmail('cookie');
    const _csrf = await csrfFor(visitor, '/auth/signup');
    const value = JSON.stringify({ code, channel: 'facebook', utmSource: 'fb', utmMedium: null, utmCampaign: null });
    await visitor
      .post('/auth/signup')
      .set('Cookie', `ref_ch=${encodeURIComponent(value)}`)
      .type('form')
      .send({ name: 'Cookie', email, password: 'correct horse battery staple', referral_code: code, _csrf });
    expect(await referralOf(email)).toMatchObject({ channel: 'facebook', utm_source: 'fb' });
  });
});

describe('the share links on the dashboard', () => {
  it('carry ?src= for each network, the copy field ?src=copy and the QR code ?src=qr', async () => {
    const { agent, code } = await newReferrer();
    const page = (await agent.get('/dashboard')).text;
    const link = `${t.config.baseUrl}/r/${code}`;
    expect(page).toContain(`value="${link}?src=copy"`);
    for (const network of ['email', 'whatsapp', 'x', 'facebook', 'linkedin', 'telegram']) {
      expect(unescapeHtml(page), network).toContain(encodeURIComponent(`${link}?src=${network}`));
    }
    // The same library draws the expected code: with another URL in it, the drawing differs.
    const expected = await QRCode.toString(`${link}?src=qr`, {
      type: 'svg',
      margin: 2,
      errorCorrectionLevel: 'M',
      color: { dark: '#000000', light: '#ffffff' },
    });
    const labelled = (svg: string) => svg.replace('<svg ', '<svg role="img" aria-label="QR code of your referral link" class="qr-svg" ');
    const qr = (
      await agent
        .get('/dashboard/qr.svg')
        .buffer(true)
        .parse((res, done) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
          res.on('end', () => done(null, body));
        })
    ).body as string;
    expect(qr).toBe(labelled(expected));
    const plain = await QRCode.toString(link, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#000000', light: '#ffffff' } });
    expect(qr).not.toBe(labelled(plain));
  });
});

describe('channel_days', () => {
  it('holds exactly what the clicks, referrals and confirmations add up to, through credits and revocations', async () => {
    const { code } = await newReferrer('Funnel Referrer');
    const channels = ['email', 'whatsapp', 'qr', 'copy'];
    const friends: string[] = [];
    for (let i = 0; i < 8; i++) {
      const visitor = t.request();
      const src = channels[i % channels.length]!;
      await visitor.get(`/r/${code}?src=${src}`);
      await visitor.get(`/r/${code}?src=${src}`);
      if (i % 4 === 3) continue; // clicked, never joined
      const email = uniqueEmail(`f${i}`);
      expect((await signup(visitor, { email, referral_code: code })).status).toBe(303);
      friends.push(email);
      if (i % 2 === 0) await confirmEmail(visitor, t.db, email); // confirmed, hence credited
      if (i === 5) clock.advance(DAY_MS); // the rest land on the next day
    }
    // 20 clicks at once on one channel: every one counted.
    await Promise.all(Array.from({ length: 20 }, () => bare(t).get(`/r/${code}?src=linkedin`)));
    // A revocation by an admin, and an admin's address edit that unconfirms a friend.
    const credited = await one<{ id: number }>(t.db, "select id from referrals where status = 'credited' order by id desc limit 1");
    const _csrf = await csrfFor(admin, '/dashboard');
    expect((await admin.post(`/admin/referrals/${credited!.id}/revoke`).type('form').send({ _csrf, return_to: '/admin/referrals' })).status).toBe(303);
    const confirmed = (await userByEmail(t.db, friends[0]!))!;
    const edit = await admin
      .post(`/admin/users/${confirmed.id}/profile`)
      .type('form')
      .send({ _csrf, name: confirmed.name, email: uniqueEmail('edited') });
    expect(edit.status).toBe(303);
    expect((await userByEmail(t.db, friends[0]!)) ?? null).toBeNull();
    expect(await table()).toEqual(await bruteForce());
    expect(await countOf(t.db, "select clicks from channel_days where channel = 'linkedin' and day = ?", Math.floor(clock.now().getTime() / DAY_MS))).toBe(20);
  });

  it('takes a deleted referral out of its day', async () => {
    const { code } = await newReferrer();
    const visitor = t.request();
    await visitor.get(`/r/${code}?src=email`);
    const email = uniqueEmail('gone');
    await signup(visitor, { email, referral_code: code });
    await confirmEmail(visitor, t.db, email);
    const referred = (await userByEmail(t.db, email))!;
    await run(t.db, 'delete from referrals where referred_user_id = ?', referred.id);
    expect(await table()).toEqual(await bruteForce());
  });
});

describe('/admin: the funnel per channel and the viral coefficient', () => {
  /** The funnel table's rows: channel → [clicks, sign-ups, confirmed, credited]. */
  const funnelOf = (html: string) =>
    new Map(
      [...html.matchAll(/<tr data-channel="([a-z]+)">(.*?)<\/tr>/g)].map((m) => [
        m[1]!,
        [...m[2]!.matchAll(/<td class="num">([\d,]+)<\/td>/g)].slice(0, 4).map((c) => Number(c[1]!.replace(/,/g, ''))),
      ]),
    );

  it('shows each channel’s clicks, sign-ups, confirmed and credited, as the table holds them, with a chart', async () => {
    const res = await admin.get('/admin?funnel=all');
    expect(res.status).toBe(200);
    const funnel = funnelOf(res.text);
    const sums = await query<{ channel: string; c: number; s: number; f: number; k: number }>(
      t.db,
      'select channel, sum(clicks) as c, sum(signups) as s, sum(confirmed) as f, sum(credited) as k from channel_days group by channel',
    );
    const expected = new Map(sums.filter((r) => Number(r.c) + Number(r.s) > 0).map((r) => [r.channel, [Number(r.c), Number(r.s), Number(r.f), Number(r.k)]]));
    expect(funnel).toEqual(expected);
    expect(funnel.get('linkedin')?.[0]).toBeGreaterThanOrEqual(20);
    expect(funnel.get('code')?.[1]).toBeGreaterThanOrEqual(2);
    expect(res.text).toContain('<svg viewBox="0 0 480');
    expect(res.text).toContain('Referral funnel per channel, all time');
  });

  it('keeps the last 30 days apart from all time, and refuses another window', async () => {
    const { code } = await newReferrer();
    await bare(t).get(`/r/${code}?src=telegram&utm_source=old`);
    const telegramAll = funnelOf((await admin.get('/admin?funnel=all')).text).get('telegram')![0]!;
    clock.advance(31 * DAY_MS);
    const recent = funnelOf((await admin.get('/admin')).text);
    const all = funnelOf((await admin.get('/admin?funnel=all')).text);
    expect(recent.get('telegram')).toBeUndefined();
    expect(all.get('telegram')?.[0]).toBe(telegramAll);
    await bare(t).get(`/r/${code}?src=telegram`);
    expect(funnelOf((await admin.get('/admin')).text).get('telegram')).toEqual([1, 0, 0, 0]);
    for (const bad of ['7d', '', 'ALL', '30d&funnel=all']) expect((await admin.get(`/admin?funnel=${bad}`)).status, bad).toBe(400);
  });

  it('shows the viral coefficient as credited referrals per participant, over 30 days and all time', async () => {
    // One credit inside the last 30 days (the clock moved on past the others).
    const { code } = await newReferrer();
    const visitor = t.request();
    const email = uniqueEmail('recent');
    await visitor.get(`/r/${code}?src=x`);
    await signup(visitor, { email, referral_code: code });
    await confirmEmail(visitor, t.db, email);
    const participants = await countOf(t.db, 'select count(*) from users');
    const credited = await countOf(t.db, "select count(*) from referrals where status = 'credited'");
    const since = (Math.floor(clock.now().getTime() / DAY_MS) - 29) * DAY_MS;
    const recent = await countOf(t.db, "select count(*) from referrals where status = 'credited' and credited_at >= ?", since);
    const page = (await admin.get('/admin')).text;
    const stat = (name: string) => new RegExp(`data-stat="${name}">([^<]+)<`).exec(page)?.[1];
    expect(stat('viral-all')).toBe((credited / participants).toFixed(2));
    expect(stat('viral-30d')).toBe((recent / participants).toFixed(2));
    expect(recent).toBe(1);
    expect(credited).toBeGreaterThan(recent);
    expect(page).toContain('Credited referrals per participant');
  });
});
