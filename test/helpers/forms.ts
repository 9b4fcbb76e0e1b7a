import type supertest from 'supertest';
import { expect } from 'vitest';

/** Reads the CSRF token out of a rendered form, as a browser would submit it. */
export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no _csrf field in the page');
  return match[1];
}

export async function csrfFor(agent: supertest.Agent, path: string): Promise<string> {
  const res = await agent.get(path);
  expect(res.status).toBe(200);
  return csrfFrom(res.text);
}

let counter = 0;
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}${counter}.${process.pid}@example.com`;
}

export const STRONG_PASSWORD = 'correct horse battery staple';

export interface SignupFields {
  name?: string;
  email?: string;
  password?: string;
  referral_code?: string;
}

/** Signs up through the real form; returns the response of the POST. */
export async function signup(agent: supertest.Agent, fields: SignupFields = {}) {
  const _csrf = await csrfFor(agent, '/auth/signup');
  return agent
    .post('/auth/signup')
    .type('form')
    .send({ name: 'Test User', email: uniqueEmail(), password: STRONG_PASSWORD, referral_code: '', ...fields, _csrf });
}

export async function login(agent: supertest.Agent, email: string, password = STRONG_PASSWORD) {
  const _csrf = await csrfFor(agent, '/auth/login');
  return agent.post('/auth/login').type('form').send({ email, password, _csrf });
}

/** A CSRF token from any page of a logged-in agent (the dashboard always renders one). */
export async function sessionCsrf(agent: supertest.Agent): Promise<string> {
  return csrfFor(agent, '/dashboard');
}
