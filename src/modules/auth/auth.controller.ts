import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.js';
import { storageFault } from '../../db/errors.js';
import type { SessionStore } from '../../db/session-store.js';
import { AppError } from '../../errors.js';
import { issueCsrfToken } from '../../http/csrf.js';
import { clientContext } from '../../http/device.js';
import { setFlash } from '../../http/flash.js';
import { clientKey, type RateLimits } from '../../http/rate-limit.js';
import { destroySession, endSession, freshSessionId, saveSession } from '../../http/session.js';
import { formValues, parseInput, type FieldErrors } from '../../http/validate.js';
import { typedCode } from '../referral/referral-code.js';
import { REF_COOKIE } from '../referral/referral.constants.js';
import { REF_CHANNEL_COOKIE, signupAttribution } from '../referral/channels.js';
import { safeNextPath } from '../users/users.middleware.js';
import { ForgotSchema, LoginSchema, ResetSchema, SignupSchema } from './auth.schemas.js';
import { normalizeEmail } from '../users/users.schemas.js';
import type { AuthService } from './auth.service.js';

const SIGNUP_FIELDS = ['name', 'email', 'referral_code'] as const;

export function createAuthController(deps: {
  auth: AuthService;
  limits: RateLimits;
  config: Config;
  sessions: Pick<SessionStore, 'rowOf'>;
  /** The public name of the person behind a referral code, or null (see ReferralService.inviterOf). */
  inviterOf: (code: string) => Promise<string | null>;
}) {
  const { auth, limits, config } = deps;

  const renderSignup = (res: Response, status: number, values: Record<string, string>, errors: FieldErrors = {}) =>
    res.status(status).render('auth/signup.njk', { title: 'Join the referral program', values, errors });

  const renderLogin = (res: Response, status: number, values: Record<string, string>, errors: FieldErrors = {}) =>
    res.status(status).render('auth/login.njk', { title: 'Log in', values, errors });

  /**
   * Logs the new identity into a brand-new session id: a planted (fixated) id is discarded.
   * The form's CSRF token was checked before this; the cookie now gets a token bound to the
   * new session id, so none issued before the login (or planted) is accepted after it.
   */
  async function startSession(req: Request, res: Response, userId: number): Promise<void> {
    await freshSessionId(req, config);
    req.session.userId = userId;
    await saveSession(req);
    issueCsrfToken(res);
  }

  const getSignup: RequestHandler = async (req, res) => {
    const fromQuery = typeof req.query.ref === 'string' ? req.query.ref : undefined;
    const cookie = (req.cookies as Record<string, unknown> | undefined)?.[REF_COOKIE];
    const fromCookie = typeof cookie === 'string' ? cookie : undefined;
    const code = [fromQuery, fromCookie].map((c) => (c && c.length <= 40 ? typedCode(c) : null)).find(Boolean);
    // Who invited the visitor, as the leaderboard shows them; nothing for an unknown or disabled code.
    res.locals.inviter = code ? await deps.inviterOf(code) : null;
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
    // A brand-new session id for the new account (a planted one is discarded), stored by
    // the sign-up's own transaction: the account and the session that logs it in commit
    // together, so no account is ever created behind an error page.
    await freshSessionId(req, config);
    const sessionRow = (user: { id: number }) => {
      req.session.userId = user.id;
      return deps.sessions.rowOf(req.sessionID, req.session);
    };
    try {
      const linkCookie = (req.cookies as Record<string, unknown> | undefined)?.[REF_CHANNEL_COOKIE];
      await auth.signup(parsed.data, clientContext(req), sessionRow, (code) => signupAttribution(linkCookie, code));
    } catch (err) {
      delete req.session.userId;
      if (err instanceof AppError && err.status < 500) {
        await limits.signupIp.reward(ipKey);
        return renderSignup(res, err.status, values, { [err.field ?? 'form']: err.message });
      }
      throw err;
    }
    // Already stored: this save only tells express-session so (it would otherwise write
    // again at the end of the response); if the disk is full now, the row is there anyway.
    await saveSession(req).catch((err: unknown) => {
      if (!storageFault(err)) throw err;
    });
    issueCsrfToken(res);
    res.clearCookie(REF_COOKIE, { path: '/' });
    res.clearCookie(REF_CHANNEL_COOKIE, { path: '/' });
    setFlash(res, 'success', 'Welcome! Your account is ready. We have emailed you a link to confirm your address.');
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
      userId = (await auth.login(parsed.data, clientContext(req))).id;
    } catch (err) {
      if (err instanceof AppError && err.status === 401) return renderLogin(res, 401, values, { form: err.message });
      throw err;
    }
    await Promise.all([limits.loginEmailIp.reset(emailIpKey), limits.loginIp.reward(ipKey)]);
    await startSession(req, res, userId);
    const next = safeNextPath(parsed.data.next ?? req.query.next) ?? '/dashboard';
    setFlash(res, 'success', 'You are logged in.');
    res.redirect(303, next);
  };

  const postLogout: RequestHandler = async (req, res) => {
    await endSession(req, res, config);
    setFlash(res, 'info', 'You are logged out.');
    res.redirect(303, '/');
  };

  const FORGOT_ANSWER = 'If an account exists for that email, we have sent a link to reset its password. It expires in one hour.';

  const getForgot: RequestHandler = (_req, res) => {
    res.render('auth/forgot.njk', { title: 'Reset your password', values: {}, errors: {} });
  };

  /**
   * The same redirect and message whether or not the account exists; both limits are
   * keyed without looking the account up, so a 429 reveals nothing either.
   */
  const postForgot: RequestHandler = async (req, res) => {
    const values = formValues(req.body, ['email']);
    const parsed = parseInput(ForgotSchema, req.body);
    if (!parsed.ok) return res.status(400).render('auth/forgot.njk', { title: 'Reset your password', values, errors: parsed.errors });
    await limits.resetIp.consume(clientKey(req.ip));
    await limits.resetAccount.consume(normalizeEmail(parsed.data.email));
    await auth.requestPasswordReset(parsed.data.email);
    setFlash(res, 'info', FORGOT_ANSWER);
    res.redirect(303, '/auth/login');
  };

  const token = (req: Request) => (typeof req.params.token === 'string' ? req.params.token : '');

  const renderInvalidLink = (res: Response) => res.status(400).render('auth/reset-invalid.njk', { title: 'Link expired' });

  const getReset: RequestHandler = async (req, res) => {
    if (!(await auth.isResetTokenValid(token(req)))) return renderInvalidLink(res);
    res.render('auth/reset.njk', { title: 'Choose a new password', token: token(req), errors: {} });
  };

  const postReset: RequestHandler = async (req, res) => {
    if (!(await auth.isResetTokenValid(token(req)))) return renderInvalidLink(res);
    const parsed = parseInput(ResetSchema, req.body);
    if (!parsed.ok) return res.status(400).render('auth/reset.njk', { title: 'Choose a new password', token: token(req), errors: parsed.errors });
    try {
      await auth.resetPassword(token(req), parsed.data.password);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_token') return renderInvalidLink(res);
      throw err;
    }
    // Every session of the account is gone, this browser's included: log in afresh.
    if (req.session?.userId !== undefined) await destroySession(req);
    setFlash(res, 'success', 'Your password has been changed. Log in with the new one.');
    res.redirect(303, '/auth/login');
  };

  /**
   * The link from the confirmation email. It needs no session (it is often opened in a
   * phone's mail app, not the browser that signed up) and is answered with a redirect so
   * that a reload does not show an error for a link that just worked.
   */
  const getVerify: RequestHandler = async (req, res) => {
    const user = await auth.verifyEmail(token(req));
    if (!user) {
      res.status(400).render('auth/verify-invalid.njk', { title: 'This link no longer works' });
      return;
    }
    setFlash(res, 'success', 'Thank you! Your email address is confirmed.');
    res.redirect(303, req.user ? '/dashboard' : '/auth/login');
  };

  /** A login link made through the integration API: it logs its participant in, once. */
  const getLoginLink: RequestHandler = async (req, res) => {
    const user = await auth.useLoginLink(token(req), clientContext(req));
    if (!user) {
      res.status(400).render('auth/link-invalid.njk', { title: 'This login link no longer works' });
      return;
    }
    await startSession(req, res, user.id);
    res.redirect(303, '/dashboard');
  };

  const postVerifyResend: RequestHandler = async (req, res) => {
    const user = req.user!;
    await limits.verifyResendAccount.consume(String(user.id));
    if (await auth.resendVerification(user)) setFlash(res, 'info', `We have sent a new confirmation link to ${user.email}. Older links no longer work.`);
    else setFlash(res, 'info', 'Your email address is already confirmed.');
    res.redirect(303, '/dashboard');
  };

  return {
    getVerify,
    getLoginLink,
    postVerifyResend,
    getSignup,
    postSignup,
    getSignupSuccess,
    getLogin,
    postLogin,
    postLogout,
    getForgot,
    postForgot,
    getReset,
    postReset,
  };
}
