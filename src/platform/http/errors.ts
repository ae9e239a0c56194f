import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  ConflictError,
  type FieldError,
  ForbiddenError,
  NotFoundError,
  NotReadyError,
  OverloadedError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
} from '../../domain/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: FieldError[];
}

/** The one table from domain error to HTTP status. Nothing else in the code chooses a status. */
const STATUS = new Map<abstract new (...args: never[]) => AppError, { status: number; title: string }>([
  [ValidationError, { status: 400, title: 'Bad Request' }],
  [UnauthenticatedError, { status: 401, title: 'Unauthorized' }],
  [ForbiddenError, { status: 403, title: 'Forbidden' }],
  [NotFoundError, { status: 404, title: 'Not Found' }],
  [ConflictError, { status: 409, title: 'Conflict' }],
  [RateLimitedError, { status: 429, title: 'Too Many Requests' }],
  [NotReadyError, { status: 503, title: 'Service Unavailable' }],
  [OverloadedError, { status: 503, title: 'Service Unavailable' }],
]);

/** Errors Fastify raises itself before a handler runs, by their `code`. */
const FRAMEWORK: Record<string, { status: number; code: string; title: string; detail: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    title: 'Unsupported Media Type',
    detail: 'Send the body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'validation_failed',
    title: 'Bad Request',
    detail: 'Content-Length does not match the body',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    title: 'Content Too Large',
    detail: 'The request body is too large',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'validation_failed',
    title: 'Bad Request',
    detail: 'The body is empty; send a JSON object',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'validation_failed',
    title: 'Bad Request',
    detail: 'The body is not valid JSON',
  },
};

const GENERIC: Record<number, { code: string; title: string }> = {
  400: { code: 'validation_failed', title: 'Bad Request' },
  401: { code: 'unauthenticated', title: 'Unauthorized' },
  403: { code: 'forbidden', title: 'Forbidden' },
  404: { code: 'not_found', title: 'Not Found' },
  405: { code: 'method_not_allowed', title: 'Method Not Allowed' },
  406: { code: 'not_acceptable', title: 'Not Acceptable' },
  408: { code: 'request_timeout', title: 'Request Timeout' },
  409: { code: 'conflict', title: 'Conflict' },
  413: { code: 'payload_too_large', title: 'Content Too Large' },
  414: { code: 'uri_too_long', title: 'URI Too Long' },
  415: { code: 'unsupported_media_type', title: 'Unsupported Media Type' },
  429: { code: 'rate_limited', title: 'Too Many Requests' },
  431: { code: 'headers_too_large', title: 'Request Header Fields Too Large' },
  503: { code: 'not_ready', title: 'Service Unavailable' },
};

export function problem(
  status: number,
  code: string,
  title: string,
  detail: string,
  errors?: FieldError[],
): Problem {
  return { type: `urn:tessera:problem:${code}`, title, status, detail, code, ...(errors ? { errors } : {}) };
}

function statusOf(error: AppError): { status: number; title: string } {
  for (const [type, entry] of STATUS) if (error instanceof type) return entry;
  return { status: 500, title: 'Internal Server Error' };
}

/** Ajv errors as `{ path, message }`, the path a JSON pointer into the body or query. */
function fieldErrors(error: FastifyError): FieldError[] {
  return (error.validation ?? []).map((v) => {
    const params = v.params as Record<string, unknown>;
    const extra = (params.additionalProperty ?? params.missingProperty) as string | undefined;
    const path = extra ? `${v.instancePath}/${extra}` : v.instancePath || '/';
    const message =
      v.keyword === 'additionalProperties'
        ? 'is not an allowed field'
        : (v.message ?? 'is invalid').replace(/^must /, 'must ');
    return { path, message };
  });
}

/** Turns anything thrown into a problem; unknown errors become a bare 500 and are logged. */
export function toProblem(error: unknown, request: FastifyRequest): Problem {
  if (error instanceof ValidationError) {
    return problem(
      400,
      error.code,
      'Bad Request',
      error.message,
      error.errors.length ? error.errors : undefined,
    );
  }
  if (error instanceof AppError) {
    const entry = statusOf(error);
    if (entry.status !== 500) return problem(entry.status, error.code, entry.title, error.message);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError?.validation) {
    const part = fastifyError.validationContext ?? 'body';
    return problem(
      400,
      'validation_failed',
      'Bad Request',
      `The request ${part} is invalid`,
      fieldErrors(fastifyError),
    );
  }
  const framework = fastifyError?.code ? FRAMEWORK[fastifyError.code] : undefined;
  if (framework) return problem(framework.status, framework.code, framework.title, framework.detail);
  const status = fastifyError?.statusCode;
  if (status && status >= 400 && status < 500) {
    const generic = GENERIC[status] ?? { code: 'bad_request', title: 'Bad Request' };
    return problem(status, generic.code, generic.title, generic.title);
  }
  request.log.error({ err: error }, 'unhandled error');
  return problem(
    500,
    'internal_error',
    'Internal Server Error',
    `Something went wrong; quote request id ${request.id}`,
  );
}

export function sendProblem(reply: FastifyReply, body: Problem, error?: unknown): FastifyReply {
  if (body.status === 401) {
    const tokenError = body.code === 'token_expired' || body.code === 'token_invalid';
    reply.header('www-authenticate', tokenError ? 'Bearer error="invalid_token"' : 'Bearer');
  }
  if (error instanceof RateLimitedError || error instanceof OverloadedError)
    reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(body.status).type('application/problem+json').send(body);
}
