import crypto from 'node:crypto';

/**
 * The single-use links of accounts (reset, confirmation, login, email change): 256 random
 * bits in base64url, stored only as SHA-256, so a database leak yields no usable link.
 */
export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
export const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');
export const newToken = () => crypto.randomBytes(32).toString('base64url');
