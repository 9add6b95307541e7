/**
 * Backend.AI's error answers: RFC 7807 problem+json with the manager's `type`,
 * `title` and `error_code` (`<domain>_<operation>_<detail>`) and an optional
 * `msg`, as ai.backend.common.exception.BackendAIError writes them; the classes
 * are the manager's (manager/errors/{auth,api,common,kernel}.py).
 */
import { isErrorCode, type ErrorBody, type ErrorCode, type SwitchyardError } from '../../../shared/errors.js';

export class BaiError extends Error {
  constructor(
    readonly status: number,
    /** The slug after https://api.backend.ai/probs/. */
    readonly slug: string,
    readonly title: string,
    readonly errorCode: string,
    readonly msg?: string,
    readonly data?: unknown,
  ) {
    super(msg ?? title);
    this.name = 'BaiError';
  }

  body(): Record<string, unknown> {
    return {
      type: `https://api.backend.ai/probs/${this.slug}`,
      title: this.title,
      error_code: this.errorCode,
      ...(this.msg === undefined ? {} : { msg: this.msg }),
      ...(this.data === undefined ? {} : { data: this.data }),
    };
  }
}

/** 401: unknown access key, wrong signature, or no credential where one is needed. */
export const authorizationFailed = (msg: string) => new BaiError(401, 'auth-failed', 'Credential/signature mismatch.', 'user_auth_unauthorized', msg);
/** 400: a malformed Authorization header, no version header, or a date outside the window. */
export const invalidAuthParameters = (msg: string) =>
  new BaiError(400, 'invalid-auth-params', 'Missing or invalid authorization parameters.', 'user_auth_invalid-parameters', msg);
export const invalidApiParameters = (msg: string) =>
  new BaiError(400, 'invalid-api-params', 'Missing or invalid API parameters.', 'api_generic_invalid-parameters', msg);
export const sessionNotFound = (msg?: string) => new BaiError(404, 'object-not-found', 'No such session.', 'session_read_not-found', msg);
export const sessionAlreadyExists = (msg?: string) =>
  new BaiError(
    400,
    'session-already-exists',
    'The session already exists but you requested not to reuse existing one.',
    'session_create_already-exists',
    msg,
  );
export const urlNotFound = () => new BaiError(404, 'url-not-found', 'Unknown URL path.', 'api_read_not-found');
export const methodNotAllowed = () => new BaiError(405, 'method-not-allowed', 'HTTP Method Not Allowed.', 'api_access_forbidden');
/** What Switchyard cannot do of a call the manager has (dialects/README.md says why). */
export const notImplemented = (msg: string) =>
  new BaiError(501, 'not-implemented', 'This API is not implemented.', 'api_generic_not-implemented', msg);
export const graphqlError = (errors: unknown) =>
  new BaiError(400, 'graphql-error', 'GraphQL-generated error.', 'api_generic_internal-error', undefined, errors);
export const internalServerError = () => new BaiError(500, 'internal-server-error', 'Internal server error.', 'backendai_generic_internal-error');
export const requestTooLarge = (limit: number) =>
  new BaiError(
    413,
    'generic-bad-request',
    'Bad request.',
    'backendai_generic_bad-request',
    `The request body is larger than the limit of ${limit} bytes.`,
  );

/** A core error (thrown, or a bulk item's) as the manager answers its nearest kind. */
export function fromCore(error: ErrorBody | SwitchyardError): BaiError {
  const code: ErrorCode = isErrorCode(error.code) ? error.code : 'INTERNAL';
  switch (code) {
    case 'UNAUTHENTICATED':
      return authorizationFailed(error.message);
    case 'NOT_FOUND':
      return sessionNotFound(error.message);
    case 'FORBIDDEN':
      return new BaiError(403, 'generic-forbidden', 'Forbidden operation.', 'backendai_generic_forbidden', error.message);
    case 'INSUFFICIENT_FUNDS':
    case 'QUOTA_EXCEEDED':
      return new BaiError(400, 'quota-exceeded', 'You have reached your resource limit.', 'session_create_unavailable', error.message);
    case 'NO_CAPACITY':
      return new BaiError(503, 'instance-not-available', 'There is no available instance.', 'instance_access_unavailable', error.message);
    case 'DUPLICATE_JOB':
      return sessionAlreadyExists(error.message);
    case 'INVALID_INPUT':
    case 'UNSUPPORTED':
    case 'INVALID_STATE':
      return invalidApiParameters(error.message);
    case 'PROVIDER_UNAVAILABLE':
      return new BaiError(503, 'service-unavailable', 'Serivce unavailable.', 'backendai_generic_unavailable', error.message);
    default:
      return new BaiError(500, 'internal-server-error', 'Internal server error.', 'backendai_generic_internal-error', error.message);
  }
}
