/**
 * The one table of error codes. Codes travel between processes and out of the
 * GraphQL API; the names are the contract's (see core.graphql ItemError).
 */
export const ERROR_CODES = [
  'NOT_FOUND',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'INVALID_INPUT',
  'UNSUPPORTED',
  'INSUFFICIENT_FUNDS',
  'NO_CAPACITY',
  'DUPLICATE_JOB',
  'PROVIDER_UNAVAILABLE',
  'INVALID_STATE',
  'INTERNAL',
  'QUOTA_EXCEEDED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Base of every domain error: a code from the table and a message safe to show a user. */
export class SwitchyardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SwitchyardError';
  }
}

export class NotFoundError extends SwitchyardError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} not found`);
    this.name = 'NotFoundError';
  }
}

export class InvalidInputError extends SwitchyardError {
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_INPUT', message, options);
    this.name = 'InvalidInputError';
  }
}

export class InvalidStateError extends SwitchyardError {
  constructor(
    readonly jobId: string,
    message: string,
  ) {
    super('INVALID_STATE', message);
    this.name = 'InvalidStateError';
  }
}

export class UnsupportedError extends SwitchyardError {
  constructor(message: string) {
    super('UNSUPPORTED', message);
    this.name = 'UnsupportedError';
  }
}

export class ForbiddenError extends SwitchyardError {
  constructor(message = 'You are not allowed to do this') {
    super('FORBIDDEN', message);
    this.name = 'ForbiddenError';
  }
}

export class UnauthenticatedError extends SwitchyardError {
  constructor(message = 'A valid bearer token is required', options?: ErrorOptions) {
    super('UNAUTHENTICATED', message, options);
    this.name = 'UnauthenticatedError';
  }
}

export class ProviderUnavailableError extends SwitchyardError {
  constructor(
    readonly providerId: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super('PROVIDER_UNAVAILABLE', `${providerId}: ${detail}`, options);
    this.name = 'ProviderUnavailableError';
  }
}

export class InsufficientFundsError extends SwitchyardError {
  constructor(message: string) {
    super('INSUFFICIENT_FUNDS', message);
    this.name = 'InsufficientFundsError';
  }
}

export class NoCapacityError extends SwitchyardError {
  constructor(message: string) {
    super('NO_CAPACITY', message);
    this.name = 'NoCapacityError';
  }
}

/** A quota of the job's workspace (or of its creator in it) would be passed; the message names it. */
export class QuotaExceededError extends SwitchyardError {
  constructor(message: string) {
    super('QUOTA_EXCEEDED', message);
    this.name = 'QuotaExceededError';
  }
}

export class DuplicateJobError extends SwitchyardError {
  constructor(readonly duplicateOf: string) {
    super('DUPLICATE_JOB', `An identical job is already active (${duplicateOf}); set allowDuplicateJob to run another`);
    this.name = 'DuplicateJobError';
  }
}

/** An error of ours with nothing to tell the caller beyond its message; the cause stays in the logs. */
export class InternalError extends SwitchyardError {
  constructor(message = 'Internal error', options?: ErrorOptions) {
    super('INTERNAL', message, options);
    this.name = 'InternalError';
  }
}

/**
 * The value the code around it guarantees, for an index or a lookup that cannot miss (a parallel
 * array, a field every writer sets). A miss is a bug of ours, not the caller's: an InternalError.
 */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InternalError(`${what} is missing`);
  return value;
}

/** A plain-data error as it travels in messages and bulk results. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof SwitchyardError) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: 'Internal error' };
}

/** The error a body describes; its code and message, not its class, travelled. */
export function fromErrorBody(body: ErrorBody): SwitchyardError {
  return new SwitchyardError(body.code, body.message);
}
