import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { userOf } from '../../domain/principal.js';
import { Email, EmptyBody, NewPassword, problems } from '../../platform/http/schemas.js';

const Token = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'The `token` parameter of the mailed link',
});

/** The emailed account flows under `/v1/auth`: password reset and email verification. */
export const emailFlowRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { emailFlows } = container;
  const tags = ['auth'];

  app.post(
    '/password/forgot',
    {
      config: { public: true, addressLimit: 'forgot' },
      schema: {
        tags,
        summary: 'Mail a password reset link',
        description:
          'Always 202 with no body, whether or not an account has this email, and with the same timing: the lookup and the mail happen after the answer. Limited per client address.',
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: Type.Null(), ...problems(400, 429) },
      },
    },
    async (request, reply) => {
      emailFlows.forgot(request.body.email, request.log);
      return reply.code(202).send(null);
    },
  );

  app.post(
    '/password/reset',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Set a new password with a reset token',
        description:
          'The token is single use and valid for one hour; only the newest one works. Every session of the user ends. 400 password_reset.invalid for an unknown, used or expired token.',
        body: Type.Object({ token: Token, password: NewPassword }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 429) },
      },
    },
    async (request, reply) => {
      await emailFlows.reset(request.body.token, request.body.password);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/email/verify',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Confirm an email address',
        description:
          'With the token of a verification mail. 400 email_verification.invalid for an unknown, used or expired token.',
        body: Type.Object({ token: Token }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 429) },
      },
    },
    async (request, reply) => {
      await emailFlows.verify(request.body.token);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/email/verify/resend',
    {
      config: { addressLimit: 'resend' },
      schema: {
        tags,
        summary: 'Mail a new verification link',
        description:
          'To the signed-in user; older links stop working. 202 with nothing sent when the email is already verified; 429 past three mails an hour.',
        body: Type.Optional(EmptyBody),
        response: { 202: Type.Null(), ...problems(400, 401, 403, 429) },
      },
    },
    async (request, reply) => {
      await emailFlows.resendVerification(userOf(request.principal).userId);
      return reply.code(202).send(null);
    },
  );
};
