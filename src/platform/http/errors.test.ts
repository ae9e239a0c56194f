import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type Response, type TestApp } from '../../../test/app.js';
import { createSignedInUser } from '../../../test/factories.js';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  NotReadyError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
} from '../../domain/errors.js';
import { problem, sendProblem, toProblem } from './errors.js';

/** No stack frames, SQL or framework internals: what a problem body must never contain. */
const INTERNALS = /\n\s+at |stack|node_modules|\.[jt]s:\d|\bselect\b|\binsert\b|FST_|Error:/i;

function expectProblem(response: Response, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = response.json() as Record<string, unknown>;
  expect(body).toMatchObject({
    type: `urn:tessera:problem:${code}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
  });
  expect((body.title as string).length).toBeGreaterThan(0);
  expect((body.detail as string).length).toBeGreaterThan(0);
  for (const key of Object.keys(body))
    expect(['type', 'title', 'status', 'detail', 'code', 'errors']).toContain(key);
  expect(response.body).not.toMatch(INTERNALS);
  return body as { detail: string; errors?: Array<{ path: string; message: string }> };
}

describe('errors through the app', () => {
  let t: TestApp;
  let small: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '0' } });
    small = await createTestApp({
      database: t.database,
      env: { BODY_LIMIT_BYTES: '2048', AUTH_RATE_LIMIT_PER_MINUTE: '0' },
    });
  });
  afterAll(async () => {
    await small.close();
    await t.close();
  });

  const login = (payload: string, contentType = 'application/json', app = t.app) =>
    app.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': contentType }, payload });

  it('malformed JSON is a 400 validation_failed problem', async () => {
    const body = expectProblem(await login('{"email": "a@b.c", '), 400, 'validation_failed');
    expect(body.detail).toBe('The body is not valid JSON');
  });

  it('an unknown content type is a 415', async () => {
    const json = JSON.stringify({ email: 'a@b.c', password: 'whatever' });
    expectProblem(await login(json, 'text/plain'), 415, 'unsupported_media_type');
    expectProblem(await login('<login/>', 'application/xml'), 415, 'unsupported_media_type');
    expectProblem(await login(json, 'application/vnd.api+json'), 415, 'unsupported_media_type');
    const noType = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: json, headers: {} });
    expectProblem(noType, 415, 'unsupported_media_type');
  });

  it('JSON is taken with any charset parameter and case, and a bodiless POST needs no content type', async () => {
    const json = JSON.stringify({ email: 'nobody@example.test', password: 'whatever' });
    for (const type of ['application/json; charset=utf-8', 'Application/JSON']) {
      expectProblem(await login(json, type), 401, 'invalid_credentials');
    }
    const bodiless = await t.app.inject({ method: 'POST', url: '/v1/auth/login' });
    expectProblem(bodiless, 400, 'validation_failed');
  });

  it('a form body is a 415 on a JSON route, and is parsed where a route declares it', async () => {
    const form = 'email=someone%40example.test&password=whatever-password';
    expectProblem(await login(form, 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    const token = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=password&username=nobody%40example.test&password=whatever-password',
    });
    expectProblem(token, 401, 'invalid_credentials');
  });

  it('a repeated form field is a 400, never "the last one wins"', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=password&username=a%40b.c&username=c%40d.e&password=whatever-password',
    });
    expectProblem(response, 400, 'validation_failed');
  });

  it('a body over BODY_LIMIT_BYTES is a 413', async () => {
    const payload = JSON.stringify({ email: 'a@b.c', password: 'p'.repeat(3000) });
    expectProblem(await login(payload, 'application/json', small.app), 413, 'payload_too_large');
    // The same body fits the default limit.
    expectProblem(await login(payload), 400, 'validation_failed');
  });

  it('unknown fields are refused with their path', async () => {
    const body = expectProblem(
      await login(JSON.stringify({ email: 'a@b.c', password: 'whatever', field: 1 })),
      400,
      'validation_failed',
    );
    expect(body.errors).toEqual([{ path: '/field', message: 'is not an allowed field' }]);
  });

  it('missing fields and wrong types are refused with their path', async () => {
    const missing = expectProblem(await login(JSON.stringify({ email: 'a@b.c' })), 400, 'validation_failed');
    expect(missing.errors).toEqual([{ path: '/password', message: expect.any(String) }]);
    const wrongType = expectProblem(
      await login(JSON.stringify({ email: 123, password: 'whatever' })),
      400,
      'validation_failed',
    );
    expect(wrongType.errors).toEqual([{ path: '/email', message: 'must be string' }]);
    // Bodies are not coerced: a number is not a string, an array is not an object.
    expectProblem(
      await login(JSON.stringify({ email: 'a@b.c', password: 12345678 })),
      400,
      'validation_failed',
    );
    expectProblem(await login(JSON.stringify([{ email: 'a@b.c', password: 'x' }])), 400, 'validation_failed');
  });

  it('an empty or null JSON body is a 400', async () => {
    expectProblem(await login(''), 400, 'validation_failed');
    expectProblem(await login('null'), 400, 'validation_failed');
  });

  it('__proto__ and constructor.prototype poisoning is a 400', async () => {
    for (const payload of [
      '{"email":"a@b.c","password":"whatever","__proto__":{"isSuperuser":true}}',
      '{"email":"a@b.c","password":"whatever","constructor":{"prototype":{"isSuperuser":true}}}',
    ]) {
      expectProblem(await login(payload), 400, 'validation_failed');
    }
    expect(({} as Record<string, unknown>).isSuperuser).toBeUndefined();
  });

  it('an unknown route is a 404 not_found problem that does not echo the query', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/no/such/route?token=SECRET-IN-QUERY' });
    const body = expectProblem(response, 404, 'not_found');
    expect(body.detail).toBe('No route for GET /no/such/route');
    expect(response.body).not.toContain('SECRET-IN-QUERY');
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/nothing-here' }), 404, 'not_found');
  });

  it('a known path with the wrong method is a problem too', async () => {
    for (const [method, url] of [
      ['DELETE', '/health'],
      ['PUT', '/v1/auth/login'],
      ['POST', '/metrics'],
    ] as const) {
      const response = await t.app.inject({ method, url });
      expect([404, 405]).toContain(response.statusCode);
      expectProblem(
        response,
        response.statusCode,
        response.statusCode === 404 ? 'not_found' : 'method_not_allowed',
      );
    }
  });

  it('a malformed URL is a 400 problem with the usual headers', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/%zz' });
    expectProblem(response, 400, 'validation_failed');
    expect(response.headers['x-request-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('an over-long path parameter is a 414 problem', async () => {
    const response = await t.app.inject({ method: 'DELETE', url: `/v1/auth/sessions/${'a'.repeat(200)}` });
    expectProblem(response, 414, 'uri_too_long');
    expect(response.headers['x-request-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('authentication runs before input checks: an anonymous caller learns nothing about the input', async () => {
    const response = await t.app.inject({
      method: 'DELETE',
      url: '/v1/auth/sessions/not-a-uuid',
      headers: { authorization: 'Bearer x' },
    });
    expectProblem(response, 401, 'token_invalid');
  });

  it('a bad path parameter is a 400 with its path', async () => {
    const user = await createSignedInUser(t.app);
    const response = await t.app.inject({
      method: 'DELETE',
      url: '/v1/auth/sessions/not-a-uuid',
      headers: { authorization: `Bearer ${user.accessToken}` },
    });
    const body = expectProblem(response, 400, 'validation_failed');
    expect(body.detail).toBe('The request params is invalid');
    expect(body.errors).toEqual([{ path: '/id', message: expect.stringContaining('uuid') }]);
  });
});

describe('toProblem', () => {
  function fakeRequest() {
    const error = vi.fn();
    return { request: { id: 'req-123', log: { error } } as unknown as FastifyRequest, error };
  }

  it('maps every domain error through the one table, keeping its code and message', () => {
    const cases: Array<[AppError, number, string]> = [
      [new ValidationError('Bad input'), 400, 'validation_failed'],
      [new ValidationError('Too common', [], 'password.too_common'), 400, 'password.too_common'],
      [new UnauthenticatedError(), 401, 'unauthenticated'],
      [new UnauthenticatedError('invalid_credentials', 'Wrong'), 401, 'invalid_credentials'],
      [new ForbiddenError('escalation', 'Not yours to grant'), 403, 'escalation'],
      [new NotFoundError(), 404, 'not_found'],
      [new ConflictError('user.email_taken', 'Taken'), 409, 'user.email_taken'],
      [new RateLimitedError(12), 429, 'rate_limited'],
      [new NotReadyError(), 503, 'not_ready'],
    ];
    for (const [error, status, code] of cases) {
      const { request, error: logError } = fakeRequest();
      expect(toProblem(error, request)).toEqual({
        type: `urn:tessera:problem:${code}`,
        title: expect.any(String),
        status,
        detail: error.message,
        code,
      });
      expect(logError).not.toHaveBeenCalled();
    }
  });

  it('maps subclasses of a domain error like their parent', () => {
    class EmailTaken extends ConflictError {}
    const { request } = fakeRequest();
    expect(toProblem(new EmailTaken('user.email_taken', 'Taken'), request).status).toBe(409);
  });

  it('keeps a ValidationError’s field errors, and leaves `errors` out when there are none', () => {
    const { request } = fakeRequest();
    const withFields = toProblem(
      new ValidationError('Bad', [{ path: '/email', message: 'is taken' }]),
      request,
    );
    expect(withFields.errors).toEqual([{ path: '/email', message: 'is taken' }]);
    expect('errors' in toProblem(new ValidationError('Bad'), request)).toBe(false);
  });

  it.each([
    ['an Error with SQL in its message', new Error('Failed query: select password_hash from users')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a thrown string', 'select * from sessions'],
    ['null', null],
    ['undefined', undefined],
    ['a server-side status', Object.assign(new Error('upstream select failed'), { statusCode: 502 })],
  ])('turns %s into a bare 500 that quotes the request id, and logs it', (_label, thrown) => {
    const { request, error: logError } = fakeRequest();
    const body = toProblem(thrown, request);
    expect(body).toEqual({
      type: 'urn:tessera:problem:internal_error',
      title: 'Internal Server Error',
      status: 500,
      detail: 'Something went wrong; quote request id req-123',
      code: 'internal_error',
    });
    expect(JSON.stringify(body)).not.toMatch(INTERNALS);
    expect(logError).toHaveBeenCalledOnce();
    expect(logError).toHaveBeenCalledWith({ err: thrown }, 'unhandled error');
  });

  it('treats a domain error outside the table as unexpected', () => {
    class Strange extends AppError {}
    const { request, error: logError } = fakeRequest();
    expect(toProblem(new Strange('strange', 'internal detail'), request)).toMatchObject({
      status: 500,
      code: 'internal_error',
    });
    expect(logError).toHaveBeenCalledOnce();
  });

  it('turns Fastify validation errors into field errors', () => {
    const { request } = fakeRequest();
    const error = Object.assign(new Error('querystring/limit must be <= 100'), {
      validationContext: 'querystring',
      validation: [
        { keyword: 'maximum', instancePath: '/limit', params: { limit: 100 }, message: 'must be <= 100' },
        { keyword: 'required', instancePath: '', params: { missingProperty: 'email' }, message: 'x' },
        {
          keyword: 'additionalProperties',
          instancePath: '/user',
          params: { additionalProperty: 'role' },
          message: 'must NOT have additional properties',
        },
        { keyword: 'type', instancePath: '', params: {}, message: 'must be object' },
        { keyword: 'type', instancePath: '/a/0', params: {} },
      ],
    });
    expect(toProblem(error, request)).toEqual({
      type: 'urn:tessera:problem:validation_failed',
      title: 'Bad Request',
      status: 400,
      detail: 'The request querystring is invalid',
      code: 'validation_failed',
      errors: [
        { path: '/limit', message: 'must be <= 100' },
        { path: '/email', message: 'x' },
        { path: '/user/role', message: 'is not an allowed field' },
        { path: '/', message: 'must be object' },
        { path: '/a/0', message: 'is invalid' },
      ],
    });
  });

  it.each([
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'unsupported_media_type'],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'validation_failed'],
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'payload_too_large'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'validation_failed'],
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'validation_failed'],
  ])('maps %s to %i %s with a fixed detail', (code, status, problemCode) => {
    const { request } = fakeRequest();
    const error = Object.assign(new Error('internal framework text'), { code, statusCode: status });
    const body = toProblem(error, request);
    expect(body).toMatchObject({ status, code: problemCode });
    expect(body.detail).not.toContain('internal framework text');
  });

  it.each([
    [405, 'method_not_allowed'],
    [406, 'not_acceptable'],
    [408, 'request_timeout'],
    [414, 'uri_too_long'],
    [431, 'headers_too_large'],
    [418, 'bad_request'],
  ])('maps any other client error status %i to %s, never echoing the message', (statusCode, code) => {
    const { request, error: logError } = fakeRequest();
    const body = toProblem(Object.assign(new Error('secret internal message'), { statusCode }), request);
    expect(body).toMatchObject({ status: statusCode, code });
    expect(JSON.stringify(body)).not.toContain('secret internal message');
    expect(logError).not.toHaveBeenCalled();
  });
});

describe('problem and sendProblem', () => {
  function fakeReply() {
    const headers: Record<string, string> = {};
    const sent: { status?: number; type?: string; body?: unknown } = {};
    const reply = {
      header(name: string, value: string) {
        headers[name.toLowerCase()] = value;
        return reply;
      },
      code(status: number) {
        sent.status = status;
        return reply;
      },
      type(type: string) {
        sent.type = type;
        return reply;
      },
      send(body: unknown) {
        sent.body = body;
        return reply;
      },
    };
    return { reply: reply as unknown as FastifyReply, headers, sent };
  }

  it('problem() builds an RFC 9457 body with a stable type', () => {
    expect(problem(409, 'member.last_owner', 'Conflict', 'A tenant keeps one owner')).toEqual({
      type: 'urn:tessera:problem:member.last_owner',
      title: 'Conflict',
      status: 409,
      detail: 'A tenant keeps one owner',
      code: 'member.last_owner',
    });
  });

  it('sends problem+json with the status', () => {
    const { reply, sent, headers } = fakeReply();
    sendProblem(reply, problem(404, 'not_found', 'Not Found', 'Gone'));
    expect(sent).toEqual({
      status: 404,
      type: 'application/problem+json',
      body: expect.objectContaining({ code: 'not_found' }),
    });
    expect(headers['www-authenticate']).toBeUndefined();
  });

  it('adds WWW-Authenticate to every 401, with invalid_token for a bad or expired token', () => {
    const cases: Array<[string, string]> = [
      ['unauthenticated', 'Bearer'],
      ['invalid_credentials', 'Bearer'],
      ['token_invalid', 'Bearer error="invalid_token"'],
      ['token_expired', 'Bearer error="invalid_token"'],
    ];
    for (const [code, header] of cases) {
      const { reply, headers } = fakeReply();
      sendProblem(reply, problem(401, code, 'Unauthorized', 'No'));
      expect(headers['www-authenticate']).toBe(header);
    }
    const { reply, headers } = fakeReply();
    sendProblem(reply, problem(403, 'forbidden', 'Forbidden', 'No'));
    expect(headers['www-authenticate']).toBeUndefined();
  });

  it('adds Retry-After to a rate-limited answer', () => {
    const { reply, headers } = fakeReply();
    const error = new RateLimitedError(37);
    const { request } = { request: { id: 'r', log: { error: vi.fn() } } as unknown as FastifyRequest };
    sendProblem(reply, toProblem(error, request), error);
    expect(headers['retry-after']).toBe('37');
  });
});
