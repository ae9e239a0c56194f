import {
  errorCodes,
  type FastifyInstance,
  type FastifyRequest,
  type preValidationHookHandler,
} from 'fastify';

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** A route takes the body types its schema's `consumes` lists; JSON when it lists none. */
function accepts(request: FastifyRequest, type: string): boolean {
  const consumes = request.routeOptions.schema?.consumes;
  return consumes === undefined ? type === JSON_TYPE : consumes.includes(type);
}

/**
 * The body rules of every route, in one place:
 * - JSON, or a form where the route's `consumes` says so (the OAuth2 token endpoint); any other
 *   type, text/plain included, is 415. Fastify's own parser still refuses `__proto__` poisoning.
 * - Repeated form fields become arrays, which no schema accepts: `a=1&a=2` is a 400, never "the
 *   last one wins" (CVE-2023-7028 sent a reset mail to two addresses that way).
 * - No body, or an empty one, counts as `{}` on a route that has a body schema, so `POST /logout`
 *   with just a content type works, and a missing body fails on its required fields as a 400.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  const unsupported = (type: string) => new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(type);
  app.removeAllContentTypeParsers();

  app.addContentTypeParser(JSON_TYPE, { parseAs: 'string' }, (request, body, done) => {
    if (!accepts(request, JSON_TYPE)) return done(unsupported(JSON_TYPE));
    if (body === '') return done(null, undefined);
    return jsonParser(request, body as string, done);
  });

  app.addContentTypeParser(FORM_TYPE, { parseAs: 'string' }, (request, body, done) => {
    if (!accepts(request, FORM_TYPE)) return done(unsupported(FORM_TYPE));
    const fields: Record<string, string | string[]> = {};
    for (const [name, value] of new URLSearchParams(body as string)) {
      const seen = fields[name];
      fields[name] = seen === undefined ? value : [seen].flat().concat(value);
    }
    done(null, fields);
  });

  // Only on routes with a body schema: the others never look at a body, and a hook on every request
  // costs every read.
  const emptyBody: preValidationHookHandler = (request, _reply, done) => {
    if (request.body === undefined) request.body = {};
    done();
  };
  app.addHook('onRoute', (route) => {
    if (!route.schema?.body) return;
    const existing = route.preValidation ? [route.preValidation].flat() : [];
    route.preValidation = [emptyBody, ...existing] as typeof route.preValidation;
  });
}
