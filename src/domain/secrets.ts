import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** A URL-safe random token of `bytes` bytes of CSPRNG output (32 bytes = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Opaque tokens carry 256 bits of randomness, so a fast hash is enough: nothing can be brute
 * forced, and the lookup by hash stays an index hit.
 */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

const TAG_BYTES = 16;

/**
 * Encrypts secrets at rest (signing keys, TOTP secrets) with AES-256-GCM. Each purpose gets its
 * own key derived from SECRET_KEY with HKDF, so a key never serves two uses.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(secretKey: string, purpose: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secretKey, 'tessera', `tessera:${purpose}`, 32));
  }

  /** Returns `v1.<iv>.<tag>.<ciphertext>`, all base64url. */
  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), data]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('Unrecognised sealed secret');
    // The tag length is pinned: GCM otherwise accepts a tag cut down to 4 bytes, and a short tag
    // makes a forged ciphertext that much cheaper to find.
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}

/**
 * A keyed hash (HMAC-SHA-256) for secrets looked up by their hash (API keys). The key is derived
 * from SECRET_KEY with HKDF for this purpose only, so a database dump without SECRET_KEY does not
 * even allow testing a guessed key offline.
 */
export class SecretHasher {
  /** A KeyObject rather than bytes: each HMAC then skips importing the key (a tenth of its cost). */
  readonly #key: KeyObject;

  constructor(secretKey: string, purpose: string) {
    this.#key = createSecretKey(
      Buffer.from(hkdfSync('sha256', secretKey, 'tessera', `tessera:hmac:${purpose}`, 32)),
    );
  }

  /** base64url of HMAC-SHA-256(key, value). */
  hash(value: string): string {
    return createHmac('sha256', this.#key).update(value).digest('base64url');
  }
}
