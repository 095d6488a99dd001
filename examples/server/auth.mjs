// The optional API key: `Authorization: Bearer <key>`, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.mjs';

/**
 * A check that throws 401 unless the request carries the key; null when no key is set.
 * Both sides are hashed first: timingSafeEqual wants equal lengths, and comparing digests leaks
 * neither the key's length nor how much of it matched.
 */
export function createAuth(apiKey) {
  if (apiKey === undefined || apiKey === null || apiKey === '') return null;
  const digest = (s) => createHash('sha256').update(s, 'utf8').digest();
  const expected = digest(`Bearer ${apiKey}`);
  return (req) => {
    const given = req.headers.authorization;
    if (typeof given === 'string' && timingSafeEqual(digest(given), expected)) return;
    throw new HttpError(401, 'unauthorized', given === undefined ? 'missing API key: send `Authorization: Bearer <key>`' : 'incorrect API key', {
      headers: { 'www-authenticate': 'Bearer' },
      code: 'invalid_api_key',
    });
  };
}
