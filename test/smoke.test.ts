import { afterAll, describe, expect, it } from 'vitest';
import { makeTestApp } from './helpers/app.js';
import { signup } from './helpers/forms.js';

const t = makeTestApp();
afterAll(() => t.close());

describe('smoke', () => {
  it('signs up and reaches the dashboard', async () => {
    const agent = t.request();
    const res = await signup(agent, { name: 'Ada' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/auth/signup/success');
    const dash = await agent.get('/dashboard');
    expect(dash.status).toBe(200);
    expect(dash.text).toContain('Ada');
  });
});
