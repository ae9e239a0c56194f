import { KeyObject, sign } from 'node:crypto';
import type { CryptoKey } from 'jose';

/** The protected header of every token we issue (RFC 7515); `alg` is fixed by the key type. */
export interface JwsHeader {
  alg: 'EdDSA';
  kid: string;
  typ: string;
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

/**
 * A JWT in compact serialisation, signed with an Ed25519 key by node:crypto in one synchronous
 * call. jose's SignJWT signs through WebCrypto: argument checks, a thread-pool job and a promise,
 * a tenth of a sign-in's event-loop time, where the signature itself takes some tens of µs.
 * Verification stays with jose (jwtVerify), which pins the algorithm and the token type.
 */
export function signJwt(header: JwsHeader, payload: Record<string, unknown>, key: CryptoKey): string {
  let keyObject = keyObjects.get(key);
  if (!keyObject) {
    keyObject = KeyObject.from(key);
    if (keyObject.asymmetricKeyType !== 'ed25519' || keyObject.type !== 'private')
      throw new Error('Tokens are signed with a private Ed25519 key');
    keyObjects.set(key, keyObject);
  }
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return `${input}.${sign(null, Buffer.from(input), keyObject).toString('base64url')}`;
}

const base64url = (text: string) => Buffer.from(text).toString('base64url');
