import { type Static, Type } from 'typebox';
import { Email, NewPassword, Nullable, Password, Timestamp, Uuid } from '../../platform/http/schemas.js';
import { ApiKeyView } from '../api-keys/api-keys.schemas.js';

export const TokenPair = Type.Object(
  {
    tokenType: Type.Literal('Bearer'),
    accessToken: Type.String(),
    expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
    refreshToken: Type.String({ description: 'Single use: every refresh returns a new one' }),
    user: Type.Ref('User'),
  },
  { $id: 'TokenPair', title: 'TokenPair' },
);

/** A correct password of an account with two-step sign-in on: POST /mfa/verify completes it. */
export const MfaChallenge = Type.Object(
  {
    mfaRequired: Type.Literal(true),
    mfaToken: Type.String({
      description: 'Five minutes, single use; only POST /v1/auth/mfa/verify accepts it',
    }),
  },
  { additionalProperties: false },
);

/** What POST /login answers: a token pair, or the MFA challenge. */
export const LoginResult = Type.Union([Type.Object(TokenPair.properties), MfaChallenge]);

export const Register = Type.Object(
  {
    email: Email,
    password: NewPassword,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    invitationToken: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);

export const Login = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 254 }),
    password: Password,
    tenantId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

export const Refresh = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }), tenantId: Type.Optional(Uuid) },
  { additionalProperties: false },
);

/** OAuth2 token endpoint (form-encoded), so the /docs page can authorize. */
export const TokenRequest = Type.Union([
  Type.Object(
    {
      grant_type: Type.Literal('password'),
      username: Type.String({ minLength: 1, maxLength: 254 }),
      password: Password,
      scope: Type.Optional(Type.String({ maxLength: 1000 })),
      client_id: Type.Optional(Type.String({ maxLength: 200 })),
      client_secret: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      grant_type: Type.Literal('refresh_token'),
      refresh_token: Type.String({ minLength: 1, maxLength: 512 }),
      scope: Type.Optional(Type.String({ maxLength: 1000 })),
      client_id: Type.Optional(Type.String({ maxLength: 200 })),
      client_secret: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
]);

export const OAuthToken = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
});

export const SessionView = Type.Object({
  id: Uuid,
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
  expiresAt: Timestamp,
  ip: Nullable(Type.String()),
  userAgent: Nullable(Type.String()),
  current: Type.Boolean({ description: 'The session of the token making this request' }),
});

export const SessionParams = Type.Object({ id: Uuid }, { additionalProperties: false });

const UserPrincipalView = Type.Object({
  type: Type.Literal('user'),
  user: Type.Ref('User'),
});

const ApiKeyPrincipalView = Type.Object({
  type: Type.Literal('api_key'),
  apiKey: ApiKeyView,
  tenantId: Uuid,
  permissions: Type.Array(Type.String(), { description: 'What the key holds in its tenant, sorted' }),
});

/**
 * A user or an API key, told apart by `type`. Written as if/then/else rather than anyOf: to
 * serialise an anyOf, fast-json-stringify validates the answer against each branch in turn
 * (every date and uuid format of the key's view, on every request); `if` looks at `type` alone.
 */
export const PrincipalView = Type.Unsafe<
  Static<typeof UserPrincipalView> | Static<typeof ApiKeyPrincipalView>
>({
  type: 'object',
  if: { type: 'object', properties: { type: { const: 'api_key' } }, required: ['type'] },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword, not a thenable
  then: ApiKeyPrincipalView,
  else: UserPrincipalView,
});
