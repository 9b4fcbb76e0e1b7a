import type { RequestHandler, Response } from 'express';
import { setFlash } from '../../http/flash.js';
import { formValues, parseInput, type FieldErrors } from '../../http/validate.js';
import type { SettingsService } from './settings.service.js';
import { SETTING_FIELDS, SETTING_KEYS, SettingsSchema, type ProgramSettings } from './settings.schemas.js';

const formOf = (settings: ProgramSettings): Record<string, string> => ({
  [SETTING_KEYS.name]: settings.name,
  [SETTING_KEYS.tagline]: settings.tagline,
  [SETTING_KEYS.friendOffer]: settings.friendOffer,
  [SETTING_KEYS.supportEmail]: settings.supportEmail,
});

export function createSettingsController(deps: { settings: SettingsService }) {
  const { settings } = deps;

  const render = (res: Response, status: number, values: Record<string, string>, errors: FieldErrors = {}) =>
    res.status(status).render('admin/settings.njk', { title: 'Settings', section: 'settings', values, errors });

  const getSettings: RequestHandler = async (_req, res) => {
    render(res, 200, formOf(await settings.current()));
  };

  const postSettings: RequestHandler = async (req, res) => {
    const parsed = parseInput(SettingsSchema, req.body);
    if (!parsed.ok) return render(res, 400, formValues(req.body, SETTING_FIELDS), parsed.errors);
    await settings.update(req.user!, parsed.data);
    setFlash(res, 'success', 'Settings saved.');
    res.redirect(303, '/admin/settings');
  };

  return { getSettings, postSettings };
}
