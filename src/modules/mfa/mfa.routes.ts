import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { userOf } from '../../domain/principal.js';
import { clientInfo } from '../../platform/http/client-info.js';
import { EmptyBody, problems } from '../../platform/http/schemas.js';
import { TokenPair } from '../auth/auth.schemas.js';
import { MfaVerify, RecoveryCodesView, TotpDisable, TotpEnable, TotpSetupView } from './mfa.schemas.js';

/** TOTP two-step sign-in, under /v1/auth. */
export const mfaRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const { mfa } = container;
  const tags = ['auth'];

  app.post(
    '/mfa/verify',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Complete a sign-in with a TOTP or recovery code',
        description:
          'Takes the mfaToken from POST /login and a current TOTP code (or an unused recovery code, which is then spent). Each code works once; each mfaToken works once, for five minutes and at most five codes. Wrong code: 401 invalid_credentials; bad or spent mfaToken: 401 token_invalid or token_expired.',
        body: MfaVerify,
        response: { 200: TokenPair, ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => mfa.verify(request.body, clientInfo(request)),
  );

  app.post(
    '/mfa/totp/setup',
    {
      schema: {
        tags,
        summary: 'Start setting up a TOTP authenticator',
        description:
          'Answers a new secret and its otpauth:// URL; it takes effect once enabled with a code. Running it again before enabling replaces the pending secret. 409 mfa.already_enabled when TOTP is on.',
        body: Type.Optional(EmptyBody),
        response: { 200: TotpSetupView, ...problems(400, 401, 409) },
      },
    },
    async (request) => mfa.setup(userOf(request.principal)),
  );

  app.post(
    '/mfa/totp/enable',
    {
      schema: {
        tags,
        summary: 'Turn TOTP on',
        description:
          'Checks a current code of the pending authenticator and turns two-step sign-in on. Answers 10 recovery codes, shown only this once. 400 mfa.invalid_code for a wrong code; 409 mfa.setup_required without a pending setup.',
        body: TotpEnable,
        response: { 200: RecoveryCodesView, ...problems(400, 401, 409) },
      },
    },
    async (request) => mfa.enable(userOf(request.principal), request.body.code),
  );

  app.post(
    '/mfa/totp/disable',
    {
      schema: {
        tags,
        summary: 'Turn TOTP off',
        description:
          'Needs the password (401 invalid_credentials when wrong). Removes the secret and the recovery codes. 409 mfa.not_enabled when TOTP is off.',
        body: TotpDisable,
        response: { 204: Type.Null(), ...problems(400, 401, 409) },
      },
    },
    async (request, reply) => {
      await mfa.disable(userOf(request.principal), request.body.password);
      return reply.code(204).send(null);
    },
  );
};
