import { hostname } from 'node:os';
import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
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
    'recoveryCodes',
    'authorization',
  ].flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
  // MFA codes are redacted in bodies only: `*.code` would also hide an error's own code
  // (SQLSTATE, ECONNREFUSED), which whoever reads the log needs.
  'code',
  'body.code',
  '*.body.code',
];

const SECRET_QUERY = /([?&](?:token|refresh_token|access_token|code|key|password)=)[^&]*/gi;

/** Links in emails carry tokens in the query; never write them to the log. */
const maskQuery = (url: string) => (url.includes('?') ? url.replace(SECRET_QUERY, '$1[redacted]') : url);

/**
 * Drizzle writes a failed query's bound values into the error's message (`...\nparams: a,b`), its
 * stack and its `params`: emails, password hashes, token hashes. The SQL stays in the log for
 * whoever debugs it; the values do not. Causes are followed, since pino prints their messages too.
 */
function serializeError(error: Error): Record<string, unknown> {
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  const leaks: string[] = [];
  let current = error as { query?: unknown; params?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (typeof current.query === 'string' && Array.isArray(current.params) && current.params.length > 0) {
      leaks.push(`\nparams: ${current.params}`);
    }
    current = current.cause as typeof current;
  }
  if (leaks.length === 0) return serialized;
  for (const field of ['message', 'stack']) {
    const text = serialized[field];
    if (typeof text !== 'string') continue;
    serialized[field] = leaks.reduce((out, leak) => out.split(leak).join('\nparams: [redacted]'), text);
  }
  if (serialized.params !== undefined) serialized.params = '[redacted]';
  return serialized;
}

export function createLogger(level: string, stream?: DestinationStream): FastifyBaseLogger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req: (req: FastifyRequest) => ({
          method: req.method,
          url: maskQuery(req.url),
          ip: req.ip,
          headers: req.headers,
        }),
        res: (res: FastifyReply) => ({ statusCode: res.statusCode }),
        err: serializeError,
      },
    },
    stream,
  );
}

/** Characters of log lines gathered before a write; a timer writes a smaller remainder within a second. */
export const LOG_BATCH_CHARS = 4096;

/**
 * Log lines gathered in memory and handed on a batch at a time, joined: a write(2) per access line
 * was 5 % of a busy worker. sonic-boom can gather lines itself (`minLength`), but it measures the
 * byte length of all it holds on every line, about 0.7 µs per line at this batch size; an array
 * joined once per batch costs a fraction of that.
 */
export class LineBatcher implements DestinationStream {
  #lines: string[] = [];
  #chars = 0;

  constructor(private readonly out: { write(text: string): unknown }) {}

  write(line: string): void {
    this.#lines.push(line);
    this.#chars += line.length;
    if (this.#chars >= LOG_BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.#lines.length === 0) return;
    const text = this.#lines.join('');
    this.#lines = [];
    this.#chars = 0;
    this.out.write(text);
  }
}

/**
 * Where both loggers write: the given stream (tests), else stdout, in batches (see LineBatcher). A
 * timer writes what is waiting every second, so a quiet service still logs promptly, and what is
 * pending is written when the process exits. Each batch is one synchronous write, as pino's own
 * stdout is: an asynchronous one went through libuv's thread pool, and the trip there and back cost
 * more than the write (about 0.3 µs more per line).
 */
export function logDestination(stream?: DestinationStream): DestinationStream {
  if (stream) return stream;
  const batcher = new LineBatcher(pino.destination({ dest: 1, sync: true }));
  setInterval(() => batcher.flush(), 1000).unref();
  process.once('exit', () => batcher.flush());
  return batcher;
}

/**
 * Fastify's request log lines, with the two per request (incoming, completed) replaced by one
 * access line. Fastify's lines each ran every redaction path over the request with its headers: a
 * third of a busy worker's CPU. The access line's fields are fixed and hold no secret (the query's
 * secret values are masked), so there is nothing to redact, and it is written as text, in the shape
 * pino gives its lines: pino's generic object serialisation was 5 % of a cached read. Errored
 * requests, stream errors and the rest still log as Fastify does, through the redacting logger.
 */
export class AccessLogController extends LogController {
  readonly #destination: DestinationStream;
  readonly #enabled: boolean;
  /** What pino puts in every line after the time: its `base` bindings. */
  readonly #base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;

  constructor(level: string, destination: DestinationStream) {
    super();
    this.#destination = destination;
    this.#enabled = (pino.levels.values[level] ?? Number.POSITIVE_INFINITY) <= pino.levels.values.info!;
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) {
      super.requestCompleted(error, request, reply);
      return;
    }
    if (!this.#enabled) return;
    const text = JSON.stringify;
    // The method needs no escaping: Node's parser takes only HTTP token characters there. The time
    // to microseconds: printing the full double took a third of this line's cost.
    this.#destination.write(
      `{"level":30,"time":${Date.now()}${this.#base},"reqId":${text(request.id)},"req":{"method":"${
        request.method
      }","url":${text(maskQuery(request.url))},"ip":${text(request.ip ?? null)}},"res":{"statusCode":${
        reply.statusCode
      }},"responseTime":${Math.round(reply.elapsedTime * 1000) / 1000},"msg":"request completed"}\n`,
    );
  }
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];

/**
 * A request's logger, made into a pino child only when something logs through it. Fastify makes a
 * child per request to carry its reqId, and pino runs every redaction path over the bindings of each
 * child it makes: 7 % of a busy worker's CPU for loggers that, with the access line written
 * separately, most requests never use.
 */
class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  get level(): string {
    return (this.#child ?? this.parent).level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }

  #log(level: Exclude<Level, 'silent'>, args: unknown[]): void {
    const real = this.#real();
    (real[level] as (...a: unknown[]) => void).apply(real, args);
  }

  #real(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }
}

/** Fastify's `childLoggerFactory`: see LazyChildLogger. */
export function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
