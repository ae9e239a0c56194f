import { errors, type JWTPayload, jwtVerify } from 'jose';
import type { Clock } from '../../domain/clock.js';
import { UnauthenticatedError } from '../../domain/errors.js';
import { randomToken } from '../../domain/secrets.js';
import { signJwt } from './jwt-sign.js';
import { SIGNING_ALGORITHM, type SigningKeyStore } from './signing-keys.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** The second step of an MFA sign-in: its own type, so it never passes as an access token. */
export const MFA_TOKEN_TYPE = 'mfa+jwt';
export const MFA_TOKEN_TTL = 300;

export interface MfaClaims {
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  tid?: string;
}

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  tid?: string;
  permissions?: string[];
}

/** Seconds of clock skew allowed on `exp`, by the full check and the cached one alike. */
const CLOCK_TOLERANCE = 5;

/** Verified access tokens kept; past this the oldest are dropped and simply verified again. */
const VERIFIED_CACHE_SIZE = 20_000;

/** Header parameters that would let a token name its own key; never honoured, always refused. */
const FOREIGN_KEY_PARAMS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

/**
 * Issues and verifies access tokens (RFC 9068 style: `typ: at+jwt`). Verification pins the
 * algorithm and the token type, and takes keys only from our own store, never from the token.
 */
export class AccessTokens {
  /**
   * Access tokens whose signature and claims have been checked, by their exact text, so a client
   * sending the same token again costs a Map lookup instead of an EdDSA verification. Only
   * successes are kept, and a hit still checks expiry and that its key is still published; the
   * session behind the token is checked on every request by the caller (SessionCache).
   */
  readonly #verified = new Map<string, { claims: AccessClaims; kid: string }>();

  constructor(
    private readonly keys: SigningKeyStore,
    private readonly issuer: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {}

  get audience(): string {
    return this.issuer;
  }

  async issue(claims: { sub: string; sid: string; tid?: string; permissions?: string[] }): Promise<string> {
    const { kid, key } = this.keys.signingKey();
    const now = Math.floor(this.clock.now().getTime() / 1000);
    const payload: JWTPayload = { sid: claims.sid };
    if (claims.tid) {
      payload.tid = claims.tid;
      payload.permissions = claims.permissions ?? [];
    }
    return signJwt(
      { alg: SIGNING_ALGORITHM, kid, typ: ACCESS_TOKEN_TYPE },
      {
        ...payload,
        iss: this.issuer,
        aud: this.audience,
        sub: claims.sub,
        jti: randomToken(16),
        iat: now,
        exp: now + this.ttlSeconds,
      },
      key,
    );
  }

  async verify(token: string): Promise<AccessClaims> {
    const hit = this.#verified.get(token);
    if (hit) {
      const now = this.clock.now().getTime() / 1000;
      if (hit.claims.exp + CLOCK_TOLERANCE > now && this.keys.isPublished(hit.kid)) return hit.claims;
      // Expired, or its key was withdrawn: the full check below gives the precise error.
      this.#verified.delete(token);
    }
    const { payload, kid } = await this.#verify(token, ACCESS_TOKEN_TYPE, [
      'sub',
      'sid',
      'jti',
      'iat',
      'exp',
    ]);
    if (typeof payload.sid !== 'string' || typeof payload.sub !== 'string') {
      throw new UnauthenticatedError('token_invalid', 'The access token is invalid');
    }
    const claims = Object.freeze(payload) as unknown as AccessClaims;
    this.#verified.set(token, { claims, kid });
    if (this.#verified.size > VERIFIED_CACHE_SIZE)
      this.#verified.delete(this.#verified.keys().next().value as string);
    return claims;
  }

  /** An `mfaToken` (`typ: mfa+jwt`, five minutes): who passed the password step, and the tenant asked for. */
  async issueMfa(claims: { sub: string; jti: string; tid?: string }): Promise<string> {
    const { kid, key } = this.keys.signingKey();
    const now = Math.floor(this.clock.now().getTime() / 1000);
    return signJwt(
      { alg: SIGNING_ALGORITHM, kid, typ: MFA_TOKEN_TYPE },
      {
        ...(claims.tid ? { tid: claims.tid } : {}),
        iss: this.issuer,
        aud: this.audience,
        sub: claims.sub,
        jti: claims.jti,
        iat: now,
        exp: now + MFA_TOKEN_TTL,
      },
      key,
    );
  }

  /** Accepts only an `mfaToken`: an access token (`at+jwt`, or anything with a `sid`) is refused. */
  async verifyMfa(token: string): Promise<MfaClaims> {
    const { payload } = await this.#verify(token, MFA_TOKEN_TYPE, ['sub', 'jti', 'iat', 'exp']);
    // Mutually exclusive rules (RFC 8725 3.12): a session-bearing token is never an mfaToken.
    if ('sid' in payload || typeof payload.sub !== 'string' || typeof payload.jti !== 'string') {
      throw new UnauthenticatedError('token_invalid', 'The token is invalid');
    }
    if (payload.tid !== undefined && typeof payload.tid !== 'string') {
      throw new UnauthenticatedError('token_invalid', 'The token is invalid');
    }
    return payload as unknown as MfaClaims;
  }

  async #verify(
    token: string,
    typ: string,
    requiredClaims: string[],
  ): Promise<{ payload: JWTPayload; kid: string }> {
    try {
      const { payload, protectedHeader } = await jwtVerify(
        token,
        async (header) => {
          if (FOREIGN_KEY_PARAMS.some((p) => p in header) || typeof header.kid !== 'string') {
            throw new UnauthenticatedError('token_invalid', 'The access token is invalid');
          }
          const key = await this.keys.verificationKey(header.kid);
          if (!key) throw new UnauthenticatedError('token_invalid', 'The access token is invalid');
          return key;
        },
        {
          algorithms: [SIGNING_ALGORITHM],
          typ,
          issuer: this.issuer,
          audience: this.audience,
          requiredClaims,
          currentDate: this.clock.now(),
          clockTolerance: CLOCK_TOLERANCE,
        },
      );
      return { payload, kid: protectedHeader.kid as string };
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        throw new UnauthenticatedError('token_expired', 'The access token has expired');
      }
      throw new UnauthenticatedError('token_invalid', 'The access token is invalid');
    }
  }
}
