/** Reset links expire an hour after they are sent. */
export const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;

/** Email confirmation links stay valid for three days: long enough for a weekend. */
export const VERIFY_TOKEN_TTL_MS = 72 * 60 * 60 * 1000;

/** Login links made through the integration API: single use, ten minutes. */
export const LOGIN_LINK_TTL_MS = 10 * 60 * 1000;

/** The stored hash of an account without a password (an API participant, a deleted account): nothing verifies against it. */
export const NO_PASSWORD = '';

/** Email-change links (sent to the new address) stay valid for a day. */
export const EMAIL_CHANGE_TTL_MS = 24 * 60 * 60 * 1000;

/** A person may choose a new code once in this long. */
export const CODE_CHANGE_EVERY_MS = 30 * 24 * 60 * 60 * 1000;
