/**
 * OpenPAI's error answers: HTTP status and {code, message}, as its REST server's
 * error handler writes them (src/rest-server/src/config/express.js), with the
 * codes its JS SDK turns into typed errors (NoJobError, UnauthorizedUserError, ...).
 */
import { isErrorCode, type ErrorBody, type ErrorCode, type SwitchyardError } from '../../../shared/errors.js';

export class PaiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PaiError';
  }
}

export const unauthorized = () => new PaiError(401, 'UnauthorizedUserError', 'Guest is not allowed to do this operation.');
export const invalidProtocol = (message: string) => new PaiError(400, 'InvalidProtocolError', message);
export const invalidParameters = (message: string) => new PaiError(400, 'InvalidParametersError', message);
export const noJob = (frameworkName: string) => new PaiError(404, 'NoJobError', `Job ${frameworkName} is not found.`);
export const noVirtualCluster = (vc: string) => new PaiError(404, 'NoVirtualClusterError', `Virtual cluster ${vc} is not found.`);
export const noApi = (url: string) => new PaiError(404, 'NoApiError', `API ${url} is not found.`);

/** Where a core error came from decides the OpenPAI code of an invalid request: a job protocol or a parameter. */
export type ErrorContext = 'submission' | 'request';

const STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  INVALID_INPUT: 400,
  UNSUPPORTED: 400,
  INSUFFICIENT_FUNDS: 403,
  QUOTA_EXCEEDED: 403,
  NO_CAPACITY: 400,
  DUPLICATE_JOB: 409,
  INVALID_STATE: 400,
  PROVIDER_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** A core error (thrown, or a bulk item's) as OpenPAI answers its nearest kind. */
export function fromCore(error: ErrorBody | SwitchyardError, context: ErrorContext, frameworkName = ''): PaiError {
  const code: ErrorCode = isErrorCode(error.code) ? error.code : 'INTERNAL';
  switch (code) {
    case 'UNAUTHENTICATED':
      return unauthorized();
    case 'NOT_FOUND':
      return frameworkName ? noJob(frameworkName) : new PaiError(404, 'NotFoundError', error.message);
    case 'FORBIDDEN':
    case 'INSUFFICIENT_FUNDS':
    case 'QUOTA_EXCEEDED':
      return new PaiError(STATUS[code], 'ForbiddenUserError', error.message);
    case 'DUPLICATE_JOB':
      return new PaiError(409, 'ConflictJobError', error.message);
    case 'INVALID_INPUT':
    case 'UNSUPPORTED':
    case 'NO_CAPACITY':
    case 'INVALID_STATE':
      return context === 'submission' ? invalidProtocol(error.message) : invalidParameters(error.message);
    default:
      return new PaiError(STATUS[code], 'UnknownError', error.message);
  }
}
