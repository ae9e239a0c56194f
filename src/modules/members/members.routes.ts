import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { ListQuery, PageOf, problems } from '../../platform/http/schemas.js';
import { auditContext } from '../audit/audit-context.js';
import { TenantParams } from '../tenants/tenants.schemas.js';
import { MemberParams, MemberPermissionsView, MembershipView, SetMemberRoles } from './members.schemas.js';
import type { Actor } from './members.service.js';

/** The caller as the tenant guard resolved them for this request. */
function actorOf(request: FastifyRequest): Actor {
  return {
    // A key is never an owner (its access has isOwner false), so the owner checks refuse it before
    // its id could matter; it only ever names the key, never a member.
    userId: request.principal.type === 'user' ? request.principal.userId : request.principal.keyId,
    isSuperuser: request.principal.isSuperuser,
    access: request.tenantAccess,
  };
}

/** `/v1/tenants/:tenantId/members`. */
export const memberRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { members } = container;
  const tags = ['members'];

  app.get(
    '/',
    {
      config: { permission: 'members:read' },
      schema: {
        tags,
        summary: 'List members',
        description: 'Members with their roles, newest first; `q` searches email and name.',
        params: TenantParams,
        querystring: ListQuery,
        response: { 200: PageOf(MembershipView), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => members.list(request.params.tenantId, request.query),
  );

  app.get(
    '/:userId',
    {
      config: { permission: 'members:read' },
      schema: {
        tags,
        summary: 'Get a member',
        description: 'One member with their roles; 404 when the user is not a member of this tenant.',
        params: MemberParams,
        response: { 200: MembershipView, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => members.get(request.params.tenantId, request.params.userId),
  );

  app.get(
    '/:userId/permissions',
    {
      config: { permission: 'members:read', self: 'userId' },
      schema: {
        tags,
        summary: "A member's permissions",
        description:
          'The effective permission keys the member holds through all their roles. Your own need no permission.',
        params: MemberParams,
        response: { 200: MemberPermissionsView, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => ({
      permissions: await members.permissions(request.params.tenantId, request.params.userId),
    }),
  );

  app.put(
    '/:userId/roles',
    {
      config: { permission: 'members:update' },
      schema: {
        tags,
        summary: "Set a member's roles",
        description:
          "Replaces the member's roles (at least one, each a role of this tenant). You cannot grant a role carrying a permission you do not hold, and only owners grant or revoke `owner` (403 escalation); the last owner cannot lose the role (409 last_owner).",
        params: MemberParams,
        body: SetMemberRoles,
        response: { 200: MembershipView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      members.setRoles(
        auditContext(request),
        actorOf(request),
        request.params.tenantId,
        request.params.userId,
        request.body.roleIds,
      ),
  );

  app.delete(
    '/:userId',
    {
      config: { permission: 'members:remove', self: 'userId' },
      schema: {
        tags,
        summary: 'Remove a member, or leave',
        description:
          'Ends a membership. Leaving (your own id) needs no permission. Only owners remove an owner, and the last owner cannot go (409 last_owner).',
        params: MemberParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await members.remove(
        auditContext(request),
        actorOf(request),
        request.params.tenantId,
        request.params.userId,
      );
      return reply.code(204).send(null);
    },
  );
};
