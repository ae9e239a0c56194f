import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Container } from '../../container.js';
import { PageOf, problems } from '../../platform/http/schemas.js';
import { TenantParams } from '../tenants/tenants.schemas.js';
import { AuditEntryView, AuditListQuery, AuditVerification } from './audit.schemas.js';

const LIST_DESCRIPTION =
  'Entries newest first; `action`, `actorId`, `since` and `until` (ISO times, inclusive) filter them.';
const VERIFY_DESCRIPTION =
  "Recomputes the log's hash chain from its anchor: `valid: false` names the first entry that was edited, or that follows a deleted one.";

/** A tenant's audit log: `/v1/tenants/:tenantId/audit-log`. */
export const tenantAuditRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { audit } = container;
  const tags = ['audit'];
  const config = { permission: 'audit:read' };

  app.get(
    '/',
    {
      config,
      schema: {
        tags,
        summary: "The tenant's audit log",
        description: `Every change to the tenant, its members, roles, invitations and API keys. ${LIST_DESCRIPTION}`,
        params: TenantParams,
        querystring: AuditListQuery,
        response: { 200: PageOf(AuditEntryView), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => audit.list(request.params.tenantId, request.query),
  );

  app.get(
    '/verify',
    {
      config,
      schema: {
        tags,
        summary: "Verify the tenant's audit log",
        description: VERIFY_DESCRIPTION,
        params: TenantParams,
        response: { 200: AuditVerification, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => audit.verify(request.params.tenantId),
  );
};

/** The platform log (sign-ins, failed sign-ins, lock-outs, user administration, key rotation): superusers. */
export const platformAuditRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { audit } = container;
  const tags = ['audit'];
  const config = { superuser: true };

  app.get(
    '/',
    {
      config,
      schema: {
        tags,
        summary: 'The platform audit log',
        description: `Sign-ins, failed sign-ins, lock-outs, user administration and signing-key rotation. ${LIST_DESCRIPTION}`,
        querystring: AuditListQuery,
        response: { 200: PageOf(AuditEntryView), ...problems(400, 401, 403) },
      },
    },
    async (request) => audit.list(null, request.query),
  );

  app.get(
    '/verify',
    {
      config,
      schema: {
        tags,
        summary: 'Verify the platform audit log',
        description: VERIFY_DESCRIPTION,
        response: { 200: AuditVerification, ...problems(401, 403) },
      },
    },
    async () => audit.verify(null),
  );
};
