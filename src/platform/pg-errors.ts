/**
 * PostgreSQL errors by SQLSTATE and constraint name. Repos turn them into domain errors by the
 * name of the constraint or index, which is why every one is named explicitly in the schema.
 * postgres.js puts `constraint_name` on the error; PGlite puts `constraint`; drizzle wraps either
 * in a DrizzleQueryError whose `cause` is the driver's error.
 */
interface PgErrorFields {
  code?: string;
  constraint?: string;
  constraint_name?: string;
  cause?: unknown;
}

function driverError(error: unknown): PgErrorFields | undefined {
  let current = error as PgErrorFields | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'string' && /^[0-9A-Z]{5}$/.test(current.code)) return current;
    current = current.cause as PgErrorFields | undefined;
  }
  return undefined;
}

export function constraintOf(error: unknown): string | undefined {
  const pg = driverError(error);
  return pg?.constraint_name ?? pg?.constraint;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pg = driverError(error);
  return pg?.code === '23505' && (constraint === undefined || constraintOf(error) === constraint);
}

export function isForeignKeyViolation(error: unknown, constraint?: string): boolean {
  const pg = driverError(error);
  return pg?.code === '23503' && (constraint === undefined || constraintOf(error) === constraint);
}
