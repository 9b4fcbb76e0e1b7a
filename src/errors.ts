/**
 * The one error type services throw. Controllers and the error handler turn it into a
 * status code and a message the person can act on; anything else is a 500.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: { code?: string; field?: string; retryAfterSec?: number; fields?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  get code(): string | undefined {
    return this.options.code;
  }

  get field(): string | undefined {
    return this.options.field;
  }
}

export const badRequest = (message: string, field?: string, code = 'bad_request') => new AppError(400, message, { code, field });
export const unauthorized = (message: string) => new AppError(401, message, { code: 'unauthorized' });
export const forbidden = (message: string) => new AppError(403, message, { code: 'forbidden' });
export const notFound = (message = 'Not found') => new AppError(404, message, { code: 'not_found' });
export const conflict = (message: string, field?: string) => new AppError(409, message, { code: 'conflict', field });
export const tooManyRequests = (retryAfterSec: number) =>
  new AppError(429, `Too many attempts. Try again in ${humanDuration(retryAfterSec)}.`, {
    code: 'rate_limited',
    retryAfterSec,
  });

function humanDuration(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}
