import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { userOf } from '../../domain/principal.js';
import { ListQuery, PageOf, problems } from '../../platform/http/schemas.js';
import { auditContext } from '../audit/audit-context.js';
import {
  ChangePassword,
  CreateUser,
  toUserView,
  UpdateMe,
  UpdateUser,
  UserParams,
  UserView,
} from './users.schemas.js';

/** The caller's own account: `/v1/users/me...`. */
export const meRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const { users } = container;
  const tags = ['users'];

  app.get(
    '/me',
    {
      schema: {
        tags,
        summary: 'Your account',
        description: 'The signed-in user.',
        response: { 200: UserView, ...problems(401) },
      },
    },
    async (request) => toUserView(await users.current(userOf(request.principal))),
  );

  app.patch(
    '/me',
    {
      schema: {
        tags,
        summary: 'Update your account',
        description: 'Changes your display name. Email and flags cannot be changed here.',
        body: UpdateMe,
        response: { 200: UserView, ...problems(400, 401) },
      },
    },
    async (request) => users.updateMe(userOf(request.principal), request.body),
  );

  app.post(
    '/me/password',
    {
      schema: {
        tags,
        summary: 'Change your password',
        description: 'Needs the current password. Every other session of yours ends; this one stays.',
        body: ChangePassword,
        response: { 204: Type.Null(), ...problems(400, 401) },
      },
    },
    async (request, reply) => {
      await users.changePassword(
        userOf(request.principal),
        request.body.currentPassword,
        request.body.newPassword,
      );
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/me',
    {
      schema: {
        tags,
        summary: 'Delete your account',
        description:
          'Deletes your account and ends every session. Refused (409) while you are the sole owner of a tenant.',
        response: { 204: Type.Null(), ...problems(401, 409) },
      },
    },
    async (request, reply) => {
      await users.deleteMe(auditContext(request), userOf(request.principal));
      return reply.code(204).send(null);
    },
  );
};

/** Platform user administration, superusers only: `/v1/users`. */
export const adminUserRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { users } = container;
  const tags = ['users'];
  const config = { superuser: true };

  app.get(
    '/',
    {
      config,
      schema: {
        tags,
        summary: 'List users',
        description: 'Every user of the platform, newest first; `q` searches email and name.',
        querystring: ListQuery,
        response: { 200: PageOf(UserView), ...problems(400, 401, 403) },
      },
    },
    async (request) => users.list(request.query),
  );

  app.post(
    '/',
    {
      config,
      schema: {
        tags,
        summary: 'Create a user',
        description: 'Creates an account with a password chosen by the administrator.',
        body: CreateUser,
        response: { 201: UserView, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await users.adminCreate(auditContext(request), request.body)),
  );

  app.get(
    '/:id',
    {
      config,
      schema: {
        tags,
        summary: 'Get a user',
        description: 'One user by id.',
        params: UserParams,
        response: { 200: UserView, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => toUserView(await users.get(request.params.id)),
  );

  app.patch(
    '/:id',
    {
      config,
      schema: {
        tags,
        summary: 'Update a user',
        description:
          'Renames, deactivates (ending every session) or reactivates a user, or grants or removes superuser. The last active superuser cannot be removed (409 last_superuser).',
        params: UserParams,
        body: UpdateUser,
        response: { 200: UserView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => users.adminUpdate(auditContext(request), request.params.id, request.body),
  );

  app.delete(
    '/:id',
    {
      config,
      schema: {
        tags,
        summary: 'Delete a user',
        description: 'Deletes the user and every session. The last active superuser cannot be deleted.',
        params: UserParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await users.delete(auditContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
