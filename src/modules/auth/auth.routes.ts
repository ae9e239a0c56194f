import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { userOf } from '../../domain/principal.js';
import { clientInfo } from '../../platform/http/client-info.js';
import { EmptyBody, problems } from '../../platform/http/schemas.js';
import { toUserView } from '../users/users.schemas.js';
import {
  Login,
  LoginResult,
  OAuthToken,
  PrincipalView,
  Refresh,
  Register,
  SessionParams,
  SessionView,
  TokenPair,
  TokenRequest,
} from './auth.schemas.js';

export const authRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const { auth, sessions, users, apiKeys } = container;
  const tags = ['auth'];

  app.post(
    '/register',
    {
      config: { public: true, addressLimit: 'register' },
      schema: {
        tags,
        summary: 'Create an account',
        description:
          'Creates a user and signs them in. Refused with 403 signup_disabled when ALLOW_SIGNUP=false.',
        body: Register,
        response: { 201: TokenPair, ...problems(400, 403, 409, 429) },
      },
    },
    async (request, reply) => reply.code(201).send(await auth.register(request.body, clientInfo(request))),
  );

  app.post(
    '/login',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Sign in with email and password',
        description:
          'Answers a token pair, or { mfaRequired, mfaToken } when the account has TOTP on (complete it with POST /mfa/verify). Unknown email, wrong password and deactivated account all answer 401 invalid_credentials, with the same timing.',
        body: Login,
        response: { 200: LoginResult, ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => auth.login(request.body, clientInfo(request)),
  );

  app.post(
    '/token',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'OAuth2 token endpoint',
        description:
          'Form-encoded password and refresh_token grants, for OAuth2 clients such as the /docs page. Prefer /login and /refresh. An account with MFA on gets 400 mfa_required from the password grant.',
        consumes: ['application/x-www-form-urlencoded'],
        body: TokenRequest,
        response: { 200: OAuthToken, ...problems(400, 401, 415, 429) },
      },
    },
    async (request) => {
      const body = request.body;
      const pair =
        body.grant_type === 'password'
          ? await auth.passwordGrant({ email: body.username, password: body.password }, clientInfo(request))
          : await auth.refresh({ refreshToken: body.refresh_token }, clientInfo(request));
      return {
        access_token: pair.accessToken,
        token_type: 'Bearer' as const,
        expires_in: pair.expiresIn,
        refresh_token: pair.refreshToken,
      };
    },
  );

  app.post(
    '/refresh',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Trade a refresh token for a new pair',
        description:
          'Refresh tokens are single use. Presenting one that was already used ends the whole session. With tenantId the access token is tenant-scoped.',
        body: Refresh,
        response: { 200: TokenPair, ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => auth.refresh(request.body, clientInfo(request)),
  );

  app.post(
    '/logout',
    {
      schema: {
        tags,
        summary: 'End the current session',
        description:
          'Revokes the session of the bearer token; its access and refresh tokens stop working at once.',
        body: EmptyBody,
        response: { 204: Type.Null(), ...problems(400, 401) },
      },
    },
    async (request, reply) => {
      await sessions.revoke(userOf(request.principal).sessionId, 'logout');
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/sessions',
    {
      schema: {
        tags,
        summary: "List the caller's sessions",
        description: 'Live sessions of the signed-in user, most recently used first.',
        response: { 200: Type.Object({ data: Type.Array(SessionView) }), ...problems(401) },
      },
    },
    async (request) => {
      const principal = userOf(request.principal);
      const rows = await sessions.list(principal.userId);
      return {
        data: rows.map((s) => ({
          id: s.id,
          createdAt: s.createdAt.toISOString(),
          lastUsedAt: s.lastUsedAt.toISOString(),
          expiresAt: s.expiresAt.toISOString(),
          ip: s.ip,
          userAgent: s.userAgent,
          current: s.id === principal.sessionId,
        })),
      };
    },
  );

  app.delete(
    '/sessions/:id',
    {
      schema: {
        tags,
        summary: 'Revoke one of your sessions',
        description:
          "Ends one of the caller's sessions; its tokens stop working at once. Another user's session is 404.",
        params: SessionParams,
        response: { 204: Type.Null(), ...problems(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await sessions.revokeOwn(userOf(request.principal).userId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/principal',
    {
      config: { apiKey: true },
      schema: {
        tags,
        summary: 'Who is calling',
        description: 'The authenticated principal: a user (or, with an API key, the key and its tenant).',
        response: { 200: PrincipalView, ...problems(401) },
      },
    },
    async (request) => {
      const { principal } = request;
      if (principal.type === 'api_key') {
        const apiKey = await apiKeys.current(principal);
        // The key's permissions, which the view already lists sorted.
        return {
          type: 'api_key' as const,
          apiKey,
          tenantId: principal.tenantId,
          permissions: apiKey.permissions,
        };
      }
      return { type: 'user' as const, user: toUserView(await users.current(principal)) };
    },
  );
};
