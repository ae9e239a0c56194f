import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { type Container, type ContainerDeps, createContainer } from './container.js';
import { uuidv7 } from './domain/ids.js';
import { apiKeyRoutes } from './modules/api-keys/api-keys.routes.js';
import { platformAuditRoutes, tenantAuditRoutes } from './modules/audit/audit.routes.js';
import { authRoutes } from './modules/auth/auth.routes.js';
import { TokenPair } from './modules/auth/auth.schemas.js';
import { emailFlowRoutes } from './modules/auth/email-flows.routes.js';
import { authzRoutes } from './modules/authz/authz.routes.js';
import {
  acceptInvitationRoutes,
  invitationRoutes,
  myInvitationRoutes,
} from './modules/invitations/invitations.routes.js';
import { memberRoutes } from './modules/members/members.routes.js';
import { mfaRoutes } from './modules/mfa/mfa.routes.js';
import { permissionRoutes } from './modules/permissions/permissions.routes.js';
import { roleRoutes } from './modules/roles/roles.routes.js';
import { serviceRoutes } from './modules/service/service.routes.js';
import { myTenantRoutes, tenantRoutes } from './modules/tenants/tenants.routes.js';
import { adminUserRoutes, meRoutes } from './modules/users/users.routes.js';
import { UserView } from './modules/users/users.schemas.js';
import { registerAuthentication } from './platform/http/authenticate.js';
import { registerAuthorization } from './platform/http/authorize.js';
import { registerBodyParsers } from './platform/http/body-parsers.js';
import { problem, sendProblem, toProblem } from './platform/http/errors.js';
import {
  AccessLogController,
  createLogger,
  lazyChildLogger,
  logDestination,
} from './platform/http/logging.js';
import { registerMetrics } from './platform/http/metrics.js';
import { registerOpenApi } from './platform/http/openapi.js';
import { ProblemView } from './platform/http/schemas.js';
import { registerSecurityHeaders, setSecurityHeaders } from './platform/http/security-headers.js';
import { validatorCompiler } from './platform/http/validation.js';
import { registerAddressLimits } from './platform/limits/http.js';

declare module 'fastify' {
  interface FastifyInstance {
    container: Container;
  }
}

export interface AppDeps extends ContainerDeps {
  /** Where logs go (tests read them); stdout when absent. */
  logStream?: DestinationStream;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Builds the HTTP app: platform plugins first (errors, auth, headers, docs), then the modules.
 * Performs no I/O at import; the caller owns the database and closes it after `app.close()`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const https = config.publicUrl.startsWith('https:');
  const logs = logDestination(deps.logStream);
  const app = Fastify({
    loggerInstance: createLogger(config.logLevel, logs),
    logController: new AccessLogController(config.logLevel, logs),
    childLoggerFactory: lazyChildLogger,
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    // Honour a caller's request id when it is short and plain, so logs can be joined across services.
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : uuidv7();
    },
    forceCloseConnections: 'idle',
    // A malformed URL (`/%zz`) or an over-long path parameter is refused before routing, where no
    // hook or error handler runs: without this, Fastify answered its own JSON, with no request id
    // and none of the security headers.
    frameworkErrors: (error, request, reply) => {
      setSecurityHeaders(request, reply, { https });
      sendProblem(reply, toProblem(error, request), error);
    },
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  app.addSchema(ProblemView);
  app.addSchema(UserView);
  app.addSchema(TokenPair);

  app.setErrorHandler((error, request, reply) => sendProblem(reply, toProblem(error, request), error));
  registerBodyParsers(app);

  const container = await createContainer(deps);
  app.decorate('container', container);
  app.addHook('onClose', async () => container.close());

  registerSecurityHeaders(app, { https });
  const metrics = registerMetrics(app);
  registerAuthentication(app, (authorization, apiKey) =>
    container.authenticator.authenticate(authorization, apiKey),
  );
  // Per-address limits on /v1/auth/*: registered after authentication so that their hooks go in
  // front of its hooks, the first after the headers.
  container.limits.useLogger(app.log);
  const limitUnmatched = registerAddressLimits(app, container.limits);
  app.setNotFoundHandler(async (request, reply) => {
    await limitUnmatched(request);
    sendProblem(
      reply,
      problem(404, 'not_found', 'Not Found', `No route for ${request.method} ${request.url.split('?')[0]}`),
    );
  });
  registerAuthorization(app, container.tenantAccess);
  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      credentials: config.corsAllowCredentials,
      // The plugin allows only GET, HEAD and POST by default, which failed every browser preflight
      // for PATCH /v1/users/me, DELETE /v1/auth/sessions/{id}, PUT .../roles and the like.
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      maxAge: 600,
      exposedHeaders: ['x-request-id', 'retry-after', 'www-authenticate'],
    });
  }
  await registerOpenApi(app, config.publicUrl);

  await app.register(serviceRoutes, { container, metrics });
  await app.register(authRoutes, { prefix: '/v1/auth', container });
  await app.register(mfaRoutes, { prefix: '/v1/auth', container });
  await app.register(meRoutes, { prefix: '/v1/users', container });
  await app.register(adminUserRoutes, { prefix: '/v1/users', container });
  await app.register(tenantRoutes, { prefix: '/v1/tenants', container });
  await app.register(memberRoutes, { prefix: '/v1/tenants/:tenantId/members', container });
  await app.register(myTenantRoutes, { prefix: '/v1/users', container });
  await app.register(permissionRoutes, { prefix: '/v1/permissions', container });
  await app.register(roleRoutes, { prefix: '/v1/tenants/:tenantId/roles', container });
  await app.register(authzRoutes, { prefix: '/v1/authz', container });
  await app.register(emailFlowRoutes, { prefix: '/v1/auth', container });
  await app.register(invitationRoutes, { prefix: '/v1/tenants/:tenantId/invitations', container });
  await app.register(acceptInvitationRoutes, { prefix: '/v1/invitations', container });
  await app.register(myInvitationRoutes, { prefix: '/v1/users', container });
  await app.register(apiKeyRoutes, { prefix: '/v1/tenants/:tenantId/api-keys', container });
  await app.register(tenantAuditRoutes, { prefix: '/v1/tenants/:tenantId/audit-log', container });
  await app.register(platformAuditRoutes, { prefix: '/v1/audit-log', container });

  await app.ready();
  // The mail sender runs while the app does; container.close() (onClose) stops it.
  container.mailSender.start(app.log);
  // The retention purge (AUDIT_RETENTION_DAYS) likewise; container.close() stops it.
  container.audit.startPurging(app.log);
  return app;
}
