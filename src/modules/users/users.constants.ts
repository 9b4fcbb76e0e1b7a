/** Reset links expire an hour after they are sent. */
export const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;

/** Email confirmation links stay valid for three days: long enough for a weekend. */
export const VERIFY_TOKEN_TTL_MS = 72 * 60 * 60 * 1000;
