/**
 * UCloud's error answers: an HTTP status and `{statusCode, why, errorCode}`,
 * as its core writes them (util.HttpError in the Go core, CommonErrorMessage in
 * the Kotlin one); clients read `why` and `errorCode`. Core errors map to the
 * nearest status UCloud answers with; running out of credits is UCloud's own
 * 402 NOT_ENOUGH_COMPUTE_CREDITS.
 */
import { isErrorCode, type ErrorBody, type ErrorCode, type SwitchyardError } from '../../../shared/errors.js';

export class UcloudError extends Error {
  constructor(
    readonly status: number,
    readonly why: string,
    readonly errorCode: string | null = null,
  ) {
    super(why);
    this.name = 'UcloudError';
  }

  body(): { statusCode: number; why: string; errorCode: string | null } {
    return { statusCode: this.status, why: this.why, errorCode: this.errorCode };
  }
}

export const unauthorized = () => new UcloudError(401, 'Unauthorized');
export const badRequest = (why: string) => new UcloudError(400, why, 'BAD_REQUEST');
export const notFound = (why = 'Not Found') => new UcloudError(404, why, 'NOT_FOUND');
/** A call UCloud has that Switchyard does not serve: as UCloud answers a call it does not know. */
export const notMapped = (call: string, reason: string) => new UcloudError(404, `${call} is not supported here: ${reason}`, 'NOT_SUPPORTED');

const STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  INVALID_INPUT: 400,
  UNSUPPORTED: 400,
  INSUFFICIENT_FUNDS: 402,
  QUOTA_EXCEEDED: 403,
  NO_CAPACITY: 400,
  DUPLICATE_JOB: 409,
  INVALID_STATE: 400,
  PROVIDER_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** A core error (thrown, or a bulk item's) as UCloud answers it. */
export function fromCore(error: ErrorBody | SwitchyardError): UcloudError {
  const code: ErrorCode = isErrorCode(error.code) ? error.code : 'INTERNAL';
  switch (code) {
    case 'UNAUTHENTICATED':
      return unauthorized();
    case 'INSUFFICIENT_FUNDS':
      return new UcloudError(402, error.message, 'NOT_ENOUGH_COMPUTE_CREDITS');
    case 'INTERNAL':
      return new UcloudError(500, 'Internal Server Error', 'INTERNAL');
    default:
      return new UcloudError(STATUS[code], error.message, code);
  }
}
