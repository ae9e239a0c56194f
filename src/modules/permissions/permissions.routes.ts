import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { PageOf, problems } from '../../platform/http/schemas.js';
import {
  CreatePermission,
  PermissionListQuery,
  PermissionParams,
  PermissionView,
  UpdatePermission,
} from './permissions.schemas.js';

/** The permission catalogue: `/v1/permissions`. Anyone signed in reads it; superusers change it. */
export const permissionRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { permissionCatalogue } = container;
  const tags = ['permissions'];
  const superuser = { superuser: true };

  app.get(
    '/',
    {
      // Any principal, an API key too: the catalogue is the same for everyone.
      config: { apiKey: true },
      schema: {
        tags,
        summary: 'List permissions',
        description:
          'The permission catalogue, system and application keys, sorted by key; `q` searches key and description.',
        querystring: PermissionListQuery,
        response: { 200: PageOf(PermissionView), ...problems(400, 401) },
      },
    },
    async (request) => permissionCatalogue.list(request.query),
  );

  app.get(
    '/:key',
    {
      // Any principal, an API key too: the catalogue is the same for everyone.
      config: { apiKey: true },
      schema: {
        tags,
        summary: 'Get a permission',
        description: 'One permission by key.',
        params: PermissionParams,
        response: { 200: PermissionView, ...problems(400, 401, 404) },
      },
    },
    async (request) => permissionCatalogue.get(request.params.key),
  );

  app.post(
    '/',
    {
      config: superuser,
      schema: {
        tags,
        summary: 'Add an application permission',
        description:
          'Adds a key (`invoices:approve`) that tenants can put in their custom roles, that `/v1/authz/check` and tenant-scoped tokens answer for, and that `owner` and `admin` hold by rule. 409 when the key exists.',
        body: CreatePermission,
        response: { 201: PermissionView, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await permissionCatalogue.create(request.body)),
  );

  app.patch(
    '/:key',
    {
      config: superuser,
      schema: {
        tags,
        summary: 'Describe an application permission',
        description: 'Changes the description. System permissions are fixed (409 system_permission).',
        params: PermissionParams,
        body: UpdatePermission,
        response: { 200: PermissionView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => permissionCatalogue.update(request.params.key, request.body),
  );

  app.delete(
    '/:key',
    {
      config: superuser,
      schema: {
        tags,
        summary: 'Remove an application permission',
        description:
          'Removes the key from the catalogue and from every role holding it; checks answer false from the next request. System permissions are fixed (409 system_permission).',
        params: PermissionParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await permissionCatalogue.delete(request.params.key);
      return reply.code(204).send(null);
    },
  );
};
