import { API_KEY_PREFIX } from '../../domain/api-keys.js';
import { UnauthenticatedError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import type { AccessTokens } from './access-tokens.js';
import type { SessionCache } from './session-cache.js';

/** Authenticates an API key secret (the api-keys module). */
export type ApiKeyAuthenticator = (secret: string) => Promise<Principal>;

const revoked = () => new UnauthenticatedError('token_invalid', 'The session has ended');

/**
 * Turns an Authorization header into a principal: signature and claims checked by AccessTokens,
 * then the session looked up in the SessionCache, so a logout, revocation, password change or
 * deactivation makes the token fail on the next request without a query per request.
 */
export class Authenticator {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly sessions: SessionCache,
    private readonly apiKeys: ApiKeyAuthenticator,
  ) {}

  /**
   * undefined when no credentials were sent; throws when credentials were sent but are bad. An API
   * key comes as `Authorization: Bearer tsk_...` or `X-API-Key: tsk_...`; both headers at once
   * (or the header twice) is refused rather than guessing which one counts.
   */
  async authenticate(
    authorization: string | undefined,
    apiKey?: string | string[] | undefined,
  ): Promise<Principal | undefined> {
    if (apiKey !== undefined) {
      if (authorization !== undefined || typeof apiKey !== 'string')
        throw new UnauthenticatedError('token_invalid', 'Send one credential: Authorization or X-API-Key');
      return this.apiKeys(apiKey.trim());
    }
    if (authorization === undefined) return undefined;
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match?.[1])
      throw new UnauthenticatedError('token_invalid', 'Use the Authorization: Bearer <token> scheme');
    if (match[1].startsWith(API_KEY_PREFIX)) return this.apiKeys(match[1]);
    const claims = await this.tokens.verify(match[1]);
    const state = await this.sessions.isLive(claims.sid, claims.sub);
    if (!state) throw revoked();
    return {
      type: 'user',
      userId: claims.sub,
      sessionId: claims.sid,
      isSuperuser: state.isSuperuser,
      ...(claims.tid ? { tokenTenantId: claims.tid } : {}),
    };
  }
}
