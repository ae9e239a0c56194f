/**
 * Domain errors are named for what went wrong, never for an HTTP status. The one table in
 * `platform/http/errors.ts` turns each class into a status and a problem+json body; `code` is
 * the stable machine string clients see.
 */
export abstract class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FieldError {
  path: string;
  message: string;
}

/** Input that is well-formed JSON but not acceptable (bad field, weak password...). */
export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
    code = 'validation_failed',
  ) {
    super(code, message);
  }
}

export type UnauthenticatedCode =
  | 'unauthenticated'
  | 'invalid_credentials'
  | 'token_expired'
  | 'token_invalid';

/** No acceptable credentials: missing, wrong, expired or revoked. */
export class UnauthenticatedError extends AppError {
  constructor(code: UnauthenticatedCode = 'unauthenticated', message = 'Authentication is required') {
    super(code, message);
  }
}

/** Authenticated, but not allowed to do this. */
export class ForbiddenError extends AppError {
  constructor(code = 'forbidden', message = 'You do not have permission to do this') {
    super(code, message);
  }
}

/** The resource does not exist, or the caller may not know that it does. */
export class NotFoundError extends AppError {
  constructor(message = 'The resource does not exist') {
    super('not_found', message);
  }
}

/** A duplicate, or a change that clashes with the current state (last owner, ...). */
export class ConflictError extends AppError {
  constructor(code = 'conflict', message = 'The request conflicts with the current state') {
    super(code, message);
  }
}

export class RateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', 'Too many requests; try again later');
  }
}

/** A dependency the request needs (the database) is not available. */
export class NotReadyError extends AppError {
  constructor(message = 'The service is not ready') {
    super('not_ready', message);
  }
}

/**
 * The service is saturated and refuses work it could only queue for too long (the password-hashing
 * queue is full). Answered at once, with Retry-After, rather than making every caller wait.
 */
export class OverloadedError extends AppError {
  constructor(
    readonly retryAfterSeconds = 1,
    message = 'The service is busy; try again shortly',
  ) {
    super('overloaded', message);
  }
}
