import { type Static, type TSchema, type TString, Type } from 'typebox';

/** RFC 9457 problem details, the body of every error. */
export const ProblemView = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', title: 'Problem' },
);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation_failed)',
  401: 'Missing, invalid or expired credentials',
  403: 'Authenticated but not allowed',
  404: 'Not found (or not visible to the caller)',
  409: 'Conflicts with the current state',
  413: 'Body too large',
  415: 'Unsupported content type',
  429: 'Rate limited',
  503: 'Not ready',
};

/** Response schemas for the error statuses a route can answer. */
export function problems(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((s) => [s, Type.Ref('Problem', { description: PROBLEM_DESCRIPTIONS[s] ?? 'Error' })]),
  );
}

/**
 * An email address. Surrounding spaces pass, because the contract trims emails; services trim and
 * lower-case them before use.
 */
export const Email = Type.String({
  pattern: String.raw`^\s*[^\s@]+@[^\s@]+\.[^\s@]+\s*$`,
  maxLength: 254,
  description: 'Trimmed and compared case-insensitively',
});
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const NewPassword = Type.String({
  minLength: 8,
  maxLength: 128,
  description: '8-128 characters, any Unicode; the most common passwords are refused',
});
export const Uuid = Type.String({ format: 'uuid' });
export const Timestamp = Type.String({ format: 'date-time' });

/**
 * A string or null, as one schema with a list of types (JSON Schema 2020-12, as OpenAPI 3.1 has it)
 * rather than anyOf: to serialise an anyOf, fast-json-stringify validates the value against each
 * branch in turn, every format check included, on every response (a fifth of the time to write an
 * API key's view went into checking its nullable dates).
 */
export function Nullable<T extends TString>(schema: T, options: { description?: string } = {}) {
  const { type: _type, ...rest } = schema;
  return Type.Unsafe<Static<T> | null>({ ...rest, ...options, type: ['string', 'null'] });
}

export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Case-insensitive substring search' }),
    ),
  },
  { additionalProperties: false },
);

export function PageOf<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });
}

export const EmptyBody = Type.Object({}, { additionalProperties: false });
