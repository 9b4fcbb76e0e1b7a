import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { setFlash } from '../../http/flash.js';
import { clientKey, type RateLimits } from '../../http/rate-limit.js';
import { destroySession, regenerateSession, saveSession, sessionCookieName } from '../../http/session.js';
import { formValues, parseInput, type FieldErrors } from '../../http/validate.js';
import { normalizeReferralCode } from '../referral/referral-code.js';
import { REF_COOKIE } from '../referral/referral.constants.js';
import { safeNextPath } from './auth.middleware.js';
import { LoginSchema, normalizeEmail, SignupSchema } from './auth.schemas.js';
import type { AuthService } from './auth.service.js';

const SIGNUP_FIELDS = ['name', 'email', 'referral_code'] as const;

export function createAuthController(deps: { auth: AuthService; limits: RateLimits; config: Config }) {
  const { auth, limits, config } = deps;

  const renderSignup = (res: Response, status: number, values: Record<string, string>, errors: FieldErrors = {}) =>
    res.status(status).render('auth/signup.njk', { title: 'Join the referral program', values, errors });

  const renderLogin = (res: Response, status: number, values: Record<string, string>, errors: FieldErrors = {}) =>
    res.status(status).render('auth/login.njk', { title: 'Log in', values, errors });

  /** Logs the new identity into a brand-new session id: a planted (fixated) id is discarded. */
  async function startSession(req: Request, userId: number): Promise<void> {
    await regenerateSession(req);
    req.session.userId = userId;
    await saveSession(req);
  }

  const getSignup: RequestHandler = (req, res) => {
    const fromQuery = typeof req.query.ref === 'string' ? req.query.ref : undefined;
    const fromCookie = typeof req.cookies?.[REF_COOKIE] === 'string' ? (req.cookies[REF_COOKIE] as string) : undefined;
    const code = [fromQuery, fromCookie].map((c) => (c ? normalizeReferralCode(c) : null)).find(Boolean);
    renderSignup(res, 200, { referral_code: code ?? '' });
  };

  const postSignup: RequestHandler = async (req, res) => {
    const ipKey = clientKey(req.ip);
    await limits.signupIp.consume(ipKey);
    const values = formValues(req.body, SIGNUP_FIELDS);
    const parsed = parseInput(SignupSchema, req.body);
    if (!parsed.ok) {
      await limits.signupIp.reward(ipKey);
      return renderSignup(res, 400, values, parsed.errors);
    }
    let userId: number;
    try {
      userId = (await auth.signup(parsed.data)).id;
    } catch (err) {
      if (err instanceof AppError && err.status < 500) {
        await limits.signupIp.reward(ipKey);
        return renderSignup(res, err.status, values, { [err.field ?? 'form']: err.message });
      }
      throw err;
    }
    await startSession(req, userId);
    res.clearCookie(REF_COOKIE, { path: '/' });
    setFlash(res, 'success', 'Welcome! Your account is ready.');
    res.redirect(303, '/auth/signup/success');
  };

  const getSignupSuccess: RequestHandler = (req, res) => {
    const user = req.user!;
    res.render('auth/signup-success.njk', {
      title: 'You are in',
      code: user.referralCode,
      link: `${config.baseUrl}/r/${user.referralCode}`,
    });
  };

  const getLogin: RequestHandler = (req, res) => {
    renderLogin(res, 200, { next: safeNextPath(req.query.next) ?? '' });
  };

  /**
   * Both limits are spent before the password is checked (so parallel guesses cannot
   * overtake the counter) and given back when the login succeeds.
   */
  const postLogin: RequestHandler = async (req, res) => {
    const values = formValues(req.body, ['email', 'next']);
    const parsed = parseInput(LoginSchema, req.body);
    if (!parsed.ok) return renderLogin(res, 400, values, parsed.errors);

    const ipKey = clientKey(req.ip);
    const emailIpKey = `${normalizeEmail(parsed.data.email)}|${ipKey}`;
    await limits.loginIp.consume(ipKey);
    await limits.loginEmailIp.consume(emailIpKey);

    let userId: number;
    try {
      userId = (await auth.login(parsed.data)).id;
    } catch (err) {
      if (err instanceof AppError && err.status === 401) return renderLogin(res, 401, values, { form: err.message });
      throw err;
    }
    await Promise.all([limits.loginEmailIp.reset(emailIpKey), limits.loginIp.reward(ipKey)]);
    await startSession(req, userId);
    const next = safeNextPath(parsed.data.next ?? req.query.next) ?? '/dashboard';
    setFlash(res, 'success', 'You are logged in.');
    res.redirect(303, next);
  };

  const postLogout: RequestHandler = async (req, res) => {
    if (req.session) await destroySession(req);
    res.clearCookie(sessionCookieName(config), { path: '/', secure: config.isProduction, httpOnly: true, sameSite: 'lax' });
    setFlash(res, 'info', 'You are logged out.');
    res.redirect(303, '/');
  };

  return { getSignup, postSignup, getSignupSuccess, getLogin, postLogin, postLogout };
}
