import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../version.js';

/**
 * The OpenAPI 3.1 document is generated from the route schemas (never written by hand), served at
 * /openapi.json, and rendered as an interactive reference at /docs.
 */
export async function registerOpenApi(app: FastifyInstance, publicUrl: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera',
        version: VERSION,
        description:
          'Multi-tenant identity and access management: users, tenants, roles, permissions and API keys.',
      },
      servers: [{ url: publicUrl }],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An access token from /v1/auth/login, or an API key (tsk_...)',
          },
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'A tenant API key (tsk_...)',
          },
          oauth2: {
            type: 'oauth2',
            description: 'Sign in from this page with email and password',
            flows: { password: { tokenUrl: '/v1/auth/token', scopes: {} } },
          },
        },
      },
      tags: [
        { name: 'service', description: 'Health, metrics and key discovery' },
        { name: 'auth', description: 'Sign-up, sign-in, tokens and sessions' },
        { name: 'users', description: 'Your account, and platform administration' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { persistAuthorization: false },
  });

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
}
