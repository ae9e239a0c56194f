import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { userOf } from '../../domain/principal.js';
import { PageOf, problems } from '../../platform/http/schemas.js';
import { auditContext } from '../audit/audit-context.js';
import { MembershipView } from '../members/members.schemas.js';
import { TenantParams } from '../tenants/tenants.schemas.js';
import {
  AcceptInvitation,
  CreateInvitation,
  InvitationListQuery,
  InvitationParams,
  InvitationView,
  MyInvitationParams,
} from './invitations.schemas.js';
import type { InvitationActor } from './invitations.service.js';

function actorOf(request: FastifyRequest): InvitationActor {
  const principal = request.principal;
  return {
    userId: principal.type === 'user' ? principal.userId : null,
    isSuperuser: principal.isSuperuser,
    access: request.tenantAccess,
  };
}

const tags = ['invitations'];

/** `/v1/tenants/:tenantId/invitations`. */
export const invitationRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { invitations } = container;

  app.post(
    '/',
    {
      config: { permission: 'members:invite' },
      schema: {
        tags,
        summary: 'Invite someone by email',
        description:
          "Mails a link with a single-use token, valid for INVITATION_TTL. Roles must be this tenant's (400); the inviter must hold every permission they grant, and only owners invite to owner (403 escalation); 409 member.exists or invitation.exists.",
        params: TenantParams,
        body: CreateInvitation,
        response: { 201: InvitationView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await invitations.create(
            auditContext(request),
            actorOf(request),
            request.params.tenantId,
            request.body,
          ),
        ),
  );

  app.get(
    '/',
    {
      config: { permission: 'members:read' },
      schema: {
        tags,
        summary: 'List invitations',
        description: 'Newest first; `status` filters. A pending invitation past its expiry is `expired`.',
        params: TenantParams,
        querystring: InvitationListQuery,
        response: { 200: PageOf(InvitationView), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => invitations.list(request.params.tenantId, request.query),
  );

  app.delete(
    '/:id',
    {
      config: { permission: 'members:invite' },
      schema: {
        tags,
        summary: 'Revoke an invitation',
        description: 'Its token stops working. 409 invitation.not_pending once answered or revoked.',
        params: InvitationParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await invitations.revoke(
        auditContext(request),
        actorOf(request),
        request.params.tenantId,
        request.params.id,
      );
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/:id/resend',
    {
      config: { permission: 'members:invite' },
      schema: {
        tags,
        summary: 'Mail an invitation again',
        description:
          'A new token (the old one stops working) and a new expiry. Works on pending and expired invitations.',
        params: InvitationParams,
        response: { 200: InvitationView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      invitations.resend(auditContext(request), actorOf(request), request.params.tenantId, request.params.id),
  );
};

/** `POST /v1/invitations/accept`. */
export const acceptInvitationRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  app.post(
    '/accept',
    {
      schema: {
        tags,
        summary: 'Accept an invitation by its token',
        description:
          "For the signed-in user whose email is the invitation's (403 invitation.email_mismatch). The token proves the address, so it need not be verified yet, and is marked verified. Single use: 400 invitation.invalid once used, revoked or expired; 409 member.exists.",
        body: AcceptInvitation,
        response: { 200: MembershipView, ...problems(400, 401, 403, 409) },
      },
    },
    async (request) =>
      container.invitations.acceptByToken(
        auditContext(request),
        userOf(request.principal).userId,
        request.body.token,
      ),
  );
};

/** `/v1/users/me/invitations`. */
export const myInvitationRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { invitations } = container;
  const mineTags = ['users'];

  app.get(
    '/me/invitations',
    {
      schema: {
        tags: mineTags,
        summary: 'Invitations addressed to you',
        description:
          "Pending invitations to the caller's email, newest first; none until the email is verified.",
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: PageOf(InvitationView), ...problems(400, 401, 403) },
      },
    },
    async (request) => invitations.mine(userOf(request.principal).userId, request.query),
  );

  app.post(
    '/me/invitations/:id/accept',
    {
      schema: {
        tags: mineTags,
        summary: 'Accept an invitation addressed to you',
        description:
          'Needs a verified email (403 email.unverified); 404 when it is not yours or no longer pending.',
        params: MyInvitationParams,
        response: { 200: MembershipView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      invitations.acceptById(auditContext(request), userOf(request.principal).userId, request.params.id),
  );

  app.post(
    '/me/invitations/:id/decline',
    {
      schema: {
        tags: mineTags,
        summary: 'Decline an invitation addressed to you',
        description:
          'Needs a verified email (403 email.unverified); 404 when it is not yours or no longer pending.',
        params: MyInvitationParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await invitations.decline(auditContext(request), userOf(request.principal).userId, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
