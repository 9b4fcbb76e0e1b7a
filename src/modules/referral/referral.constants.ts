/** The cookie /r/:code sets so a sign-up days later still credits the last link clicked. */
export const REF_COOKIE = 'ref';
export const REF_COOKIE_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** How long after signing up a user may still apply someone's code. */
export const APPLY_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * The dashboard lists this many of the people a user referred, newest first: enough to
 * see who joined lately on a phone, and the same cost for a referrer with six thousand.
 */
export const RECENT_REFERRED = 20;
