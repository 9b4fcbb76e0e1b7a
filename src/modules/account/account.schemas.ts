import { z } from 'zod';
import { LEADERBOARD_DISPLAYS } from '../../db/schema.js';
import { PasswordSchema } from '../auth/auth.schemas.js';
import { EmailSchema, NameSchema, requiredString } from '../users/users.schemas.js';
import { VanityCodeSchema } from '../referral/referral-code.js';

const CurrentPassword = requiredString('Enter your current password.').min(1, 'Enter your current password.').max(1000, 'That password is too long.');

export const NameFormSchema = z.object({ name: NameSchema });
export const EmailFormSchema = z.object({ email: EmailSchema, current_password: CurrentPassword });
export const PasswordFormSchema = z.object({ current_password: CurrentPassword, password: PasswordSchema });
export const PrivacyFormSchema = z.object({ display: z.enum(LEADERBOARD_DISPLAYS, { error: 'Choose how the leaderboard shows you.' }) });
export const CodeFormSchema = z.object({ code: VanityCodeSchema });
export const DeleteFormSchema = z.object({ current_password: CurrentPassword });
