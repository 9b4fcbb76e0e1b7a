import { z } from 'zod';

const pageField = z
  .string({ error: 'page must be a positive whole number.' })
  .regex(/^[1-9][0-9]{0,8}$/, 'page must be a positive whole number.')
  .transform(Number)
  .optional()
  .default(1);

const searchField = z
  .string({ error: 'Search for text.' })
  .max(200, 'Search for at most 200 characters.')
  .optional()
  .transform((v) => (v ?? '').trim());

export const IdParamSchema = z.object({
  id: z.string().regex(/^[1-9][0-9]{0,15}$/, 'Not found.').transform(Number),
});

export const UsersQuerySchema = z.object({ q: searchField, page: pageField });

export const ReferralsQuerySchema = z.object({
  q: searchField,
  page: pageField,
  status: z.enum(['', 'credited', 'revoked'], { error: 'Unknown status.' }).optional().transform((v) => v || undefined),
  source: z.enum(['', 'signup', 'applied', 'admin'], { error: 'Unknown source.' }).optional().transform((v) => v || undefined),
});

export const PageQuerySchema = z.object({ page: pageField });

/** Where to go back to after an admin action: only admin pages. */
export const ReturnToSchema = z.object({
  return_to: z
    .string()
    .regex(/^\/admin(\/[\w\-/?=&%.]*)?$/)
    .optional()
    .catch(undefined),
});
