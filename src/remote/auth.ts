/**
 * The bearer token that guards the optional TCP listener. A Unix socket is
 * guarded by file permissions instead; TCP on 127.0.0.1 is open to every
 * local user, so there the token is required.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidArg } from '../errors.js';

/** 256 random bits, URL-safe, so it fits a header and a shell variable as is. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Checks a token given by the user: long enough to be unguessable, header-safe. */
export function checkToken(token: unknown): string {
  if (typeof token !== 'string' || !/^[A-Za-z0-9._~+/=-]{16,512}$/.test(token)) {
    throw invalidArg('token must be 16 to 512 characters of A-Z a-z 0-9 . _ ~ + / = -');
  }
  return token;
}

/**
 * Whether an Authorization header carries `Bearer <token>`. Both sides are
 * hashed first so the comparison takes the same time whatever the length
 * or content of the guess.
 */
export function authorized(header: string | undefined, token: string): boolean {
  const m = typeof header === 'string' ? /^Bearer[ ]+(\S+)[ ]*$/i.exec(header) : null;
  const given = createHash('sha256')
    .update(m ? m[1]! : '')
    .digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected) && m !== null;
}
