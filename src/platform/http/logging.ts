import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import pino, { type DestinationStream } from 'pino';

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log line: credentials in
 * headers, and secret-bearing fields of any object logged (bodies, errors, service events).
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  ...[
    'password',
    'currentPassword',
    'newPassword',
    'token',
    'accessToken',
    'refreshToken',
    'access_token',
    'refresh_token',
    'mfaToken',
    'invitationToken',
    'secret',
    'key',
    'apiKey',
    'code',
    'recoveryCodes',
    'authorization',
  ].flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

const SECRET_QUERY = /([?&](?:token|refresh_token|access_token|code|key|password)=)[^&]*/gi;

export function createLogger(level: string, stream?: DestinationStream): FastifyBaseLogger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: FastifyRequest) => ({
          method: req.method,
          // Links in emails carry tokens in the query; never write them to the log.
          url: req.url.replace(SECRET_QUERY, '$1[redacted]'),
          ip: req.ip,
          headers: req.headers,
        }),
        res: (res: FastifyReply) => ({ statusCode: res.statusCode }),
      },
    },
    stream,
  );
}
