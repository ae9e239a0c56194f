import { type CryptoKey, SignJWT } from 'jose';
import { randomToken } from '../src/domain/secrets.js';
import type { SignedIn } from './factories.js';

/**
 * An access token for `who`'s session signed directly with `key` under `kid`, as the service would
 * sign it: for tests of what verification accepts (retired keys, the verified-token cache).
 */
export function signAccessToken(
  signer: { kid: string; key: CryptoKey },
  who: SignedIn,
  options: { issuer: string; now: Date; ttlSeconds: number },
): Promise<string> {
  const now = Math.floor(options.now.getTime() / 1000);
  return new SignJWT({ sid: who.sessionId })
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'at+jwt' })
    .setIssuer(options.issuer)
    .setAudience(options.issuer)
    .setSubject(who.user.id)
    .setJti(randomToken(16))
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
    .sign(signer.key);
}
