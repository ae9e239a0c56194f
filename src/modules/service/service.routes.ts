import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'drizzle-orm';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { constantTimeEqual } from '../../domain/secrets.js';
import { problem, sendProblem } from '../../platform/http/errors.js';
import { problems } from '../../platform/http/schemas.js';
import { VERSION } from '../../platform/version.js';

/** The service's own endpoints: identity, health, metrics and key discovery. */
export const serviceRoutes: FastifyPluginAsyncTypebox<{ container: Container; metrics: Registry }> = async (
  app,
  { container, metrics },
) => {
  const { config, keys, db } = container;
  const tags = ['service'];
  const open = { public: true };

  app.get(
    '/',
    {
      config: open,
      schema: {
        tags,
        summary: 'Service identity',
        description: 'Name, version and where the API reference lives.',
        response: { 200: Type.Object({ name: Type.String(), version: Type.String(), docs: Type.String() }) },
      },
    },
    async () => ({ name: 'tessera', version: VERSION, docs: '/docs' }),
  );

  app.get(
    '/health',
    {
      config: open,
      schema: {
        tags,
        summary: 'Liveness',
        description: 'Answers while the process serves requests; touches no dependency.',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const Ready = Type.Object({
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
    checks: Type.Object({ database: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]) }),
  });
  app.get(
    '/health/ready',
    {
      config: open,
      schema: {
        tags,
        summary: 'Readiness',
        description:
          'Checks the database; 503 while it cannot be reached, so a load balancer takes the instance out.',
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_request, reply) => {
      const database = await Promise.race([
        db.execute(sql`select 1`).then(() => 'ok' as const),
        new Promise<'unavailable'>((resolve) => setTimeout(() => resolve('unavailable'), 2_000).unref()),
      ]).catch(() => 'unavailable' as const);
      const ok = database === 'ok';
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { database } });
    },
  );

  app.get(
    '/metrics',
    {
      config: open,
      schema: {
        tags,
        summary: 'Prometheus metrics',
        description:
          'Text exposition format. Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
        produces: ['text/plain'],
        response: { 200: Type.String(), ...problems(401) },
      },
    },
    async (request, reply) => {
      if (config.metricsToken) {
        const sent = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
        if (!constantTimeEqual(sent, config.metricsToken)) {
          return sendProblem(
            reply,
            problem(401, 'unauthenticated', 'Unauthorized', 'A metrics token is required'),
          );
        }
      }
      return reply.type(metrics.contentType).send(await metrics.metrics());
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      config: open,
      schema: {
        tags,
        summary: 'JSON Web Key Set',
        description:
          'Public keys that verify access tokens: the signing key and retired keys whose tokens may still be valid.',
        response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      },
    },
    async (_request, reply) => {
      // A rotated-in key signs at once, so verifiers must not hold the set for long; one that meets an
      // unknown kid should fetch it again (jose's createRemoteJWKSet does).
      reply.header('cache-control', 'public, max-age=60');
      return keys.jwks();
    },
  );

  app.get(
    '/.well-known/openid-configuration',
    {
      config: open,
      schema: {
        tags,
        summary: 'Discovery document',
        description: 'Issuer, JWKS location, token endpoint and supported algorithms.',
        response: { 200: Type.Record(Type.String(), Type.Unknown()) },
      },
    },
    async () => ({
      issuer: config.publicUrl,
      jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
      token_endpoint: `${config.publicUrl}/v1/auth/token`,
      grant_types_supported: ['password', 'refresh_token'],
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['EdDSA'],
      token_endpoint_auth_methods_supported: ['none'],
      access_token_signing_alg_values_supported: ['EdDSA'],
    }),
  );
};
