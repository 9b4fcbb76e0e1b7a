import { z } from 'zod';
import { badRequest } from '../errors.js';

/** Line breaks and other control characters: never valid in a one-line text field. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export type FieldErrors = Record<string, string>;

export type Parsed<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

/**
 * Runs a zod schema over untrusted input and keeps the first message per field, which is
 * what a form shows next to each input.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): Parsed<z.output<S>> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return { ok: true, data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    // A strict object names the fields it does not know: each is an error of its own.
    const keys = issue.code === 'unrecognized_keys' && issue.path.length === 0 ? issue.keys : [String(issue.path[0] ?? 'form')];
    for (const key of keys) errors[key] ??= issue.code === 'unrecognized_keys' ? `Unknown field “${key}”.` : issue.message;
  }
  return { ok: false, errors };
}

/** Parses a query string (or params) that has no form to re-render: malformed is a 400. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = parseInput(schema, input);
  if (!parsed.ok) throw badRequest(Object.values(parsed.errors)[0] ?? 'Invalid request.');
  return parsed.data;
}

/** Echoes submitted text fields back into a form, never the password and never non-strings. */
export function formValues(body: unknown, fields: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  if (!body || typeof body !== 'object') return values;
  for (const field of fields) {
    const value = (body as Record<string, unknown>)[field];
    if (typeof value === 'string') values[field] = value.slice(0, 500);
  }
  return values;
}
