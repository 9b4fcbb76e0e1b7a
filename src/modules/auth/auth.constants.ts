/** Reset links expire an hour after they are sent. */
export const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;
