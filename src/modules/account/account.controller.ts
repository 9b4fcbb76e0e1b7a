import type { Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { setFlash } from '../../http/flash.js';
import { clientKey, type RateLimits } from '../../http/rate-limit.js';
import { endSession } from '../../http/session.js';
import { formValues, parseInput, type FieldErrors } from '../../http/validate.js';
import { ANONYMOUS_NAME, publicName } from '../users/users.resources.js';
import { CodeFormSchema, DeleteFormSchema, EmailFormSchema, NameFormSchema, PasswordFormSchema, PrivacyFormSchema } from './account.schemas.js';
import type { AccountService } from './account.service.js';

type FormName = 'name' | 'email' | 'password' | 'privacy' | 'code' | 'delete';

export function createAccountController(deps: { account: AccountService; limits: RateLimits; config: Config }) {
  const { account, limits, config } = deps;

  /** The page, with one form's errors and values when it was refused. */
  async function render(req: Request, res: Response, status = 200, form?: FormName, errors: FieldErrors = {}, values: Record<string, string> = {}) {
    const user = req.user!;
    const sample = (display: 'name' | 'initials' | 'anonymous') => publicName(user.name, display);
    res.status(status).render('account/index.njk', {
      title: 'Your account',
      account: user,
      formerCodes: await account.formerCodes(user),
      displays: [
        { value: 'name', label: `Full name: ${sample('name')}` },
        { value: 'initials', label: `Initials: ${sample('initials')}` },
        { value: 'anonymous', label: `Anonymous: ${ANONYMOUS_NAME}` },
      ],
      form,
      errors,
      values,
    });
  }

  /**
   * One flow for every form: parse, act, 303 back with a flash; a refusal re-renders the
   * page with that form's errors (400, or 401 for a wrong current password). Forms that
   * check the password spend the login limiter's budget, so the page cannot be used to
   * guess it.
   */
  function handle<S extends z.ZodType>(
    form: FormName,
    schema: S,
    fields: readonly string[],
    act: (req: Request, res: Response, data: z.output<S>) => Promise<string | void>,
    options: { checksPassword?: boolean } = {},
  ): RequestHandler {
    return async (req, res) => {
      const values = formValues(req.body, fields);
      const parsed = parseInput(schema, req.body);
      if (!parsed.ok) return render(req, res, 400, form, parsed.errors, values);
      const limitKey = `${req.user!.emailNormalized}|${clientKey(req.ip)}`;
      if (options.checksPassword) await limits.loginEmailIp.consume(limitKey);
      let flash: string | void;
      try {
        flash = await act(req, res, parsed.data);
      } catch (err) {
        if (err instanceof AppError && (err.status === 400 || err.status === 401) && err.field) {
          return render(req, res, err.status, form, { [err.field]: err.message }, values);
        }
        throw err;
      }
      if (options.checksPassword) await limits.loginEmailIp.reset(limitKey);
      if (res.headersSent) return;
      if (flash) setFlash(res, 'success', flash);
      res.redirect(303, '/account');
    };
  }

  const getAccount: RequestHandler = (req, res) => render(req, res);

  const postName = handle('name', NameFormSchema, ['name'], async (req, _res, { name }) => {
    await account.rename(req.user!, name);
    return `Your name is now ${name}.`;
  });

  const postEmail = handle(
    'email',
    EmailFormSchema,
    ['email'],
    async (req, _res, { email, current_password }) => {
      await limits.verifyResendAccount.consume(String(req.user!.id));
      await account.requestEmailChange(req.user!, email, current_password);
      return `We sent a link to ${email}. Your email address changes when you open it.`;
    },
    { checksPassword: true },
  );

  const postPassword = handle(
    'password',
    PasswordFormSchema,
    [],
    async (req, _res, { current_password, password }) => {
      await account.changePassword(req.user!, req.sessionID, current_password, password);
      return 'Your password is changed. Every other device is logged out.';
    },
    { checksPassword: true },
  );

  const postPrivacy = handle('privacy', PrivacyFormSchema, ['display'], async (req, _res, { display }) => {
    await account.setDisplay(req.user!, display);
    return `The leaderboard now shows you as “${publicName(req.user!.name, display)}”.`;
  });

  const postCode = handle('code', CodeFormSchema, ['code'], async (req, _res, { code }) => {
    await account.chooseCode(req.user!, code);
    return `Your code is now ${code}. Links with your old code keep working.`;
  });

  const postDelete = handle(
    'delete',
    DeleteFormSchema,
    [],
    async (req, res, { current_password }) => {
      await account.deleteWithPassword(req.user!, current_password);
      await endSession(req, res, config);
      setFlash(res, 'info', 'Your account is deleted. Thank you for taking part.');
      res.redirect(303, '/');
    },
    { checksPassword: true },
  );

  /** The email-change link: works without a session (it is opened from the new inbox). */
  const getConfirmEmail: RequestHandler = async (req, res) => {
    const token = typeof req.params.token === 'string' ? req.params.token : '';
    const user = await account.confirmEmailChange(token);
    if (!user) {
      res.status(400).render('account/email-invalid.njk', { title: 'This link no longer works' });
      return;
    }
    setFlash(res, 'success', `Your email address is now ${user.email}.`);
    res.redirect(303, req.user?.id === user.id ? '/account' : '/auth/login');
  };

  const getExport: RequestHandler = async (req, res) => {
    const data = await account.exportData(req.user!);
    res.setHeader('Content-Disposition', 'attachment; filename="my-referral-data.json"');
    res.setHeader('Cache-Control', 'no-store');
    res.type('application/json').send(JSON.stringify(data, null, 2));
  };

  return { getAccount, postName, postEmail, postPassword, postPrivacy, postCode, postDelete, getConfirmEmail, getExport };
}
