/**
 * Apolo's error answers: an HTTP status and `{"error": "text"}`, which the SDK
 * turns into its typed errors by status (apolo_sdk/_core.py `_raise_error`:
 * 400 IllegalArgumentError, 401 AuthenticationError, 403 AuthorizationError,
 * 404 ResourceNotFound, 405 ClientError, 503 ServerNotAvailable). A websocket
 * refused before its upgrade carries the text in an X-Error header too, where
 * the SDK reads it.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

import { isErrorCode, type ErrorBody, type ErrorCode, type SwitchyardError } from '../../../shared/errors.js';

export class ApoloError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApoloError';
  }
}

export const unauthorized = (why = 'Not authorized') => new ApoloError(401, why);
export const badRequest = (message: string) => new ApoloError(400, message);
export const noJob = (id: string) => new ApoloError(404, `no such job ${id}`);
/** Calls of Apolo's API that Switchyard has no counterpart for (dialects/README.md says why). */
export const notServed = (what: string, why: string) => new ApoloError(404, `${what} is not served by Switchyard's Apolo dialect: ${why}`);

const STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  INVALID_INPUT: 400,
  UNSUPPORTED: 400,
  INSUFFICIENT_FUNDS: 400,
  QUOTA_EXCEEDED: 400,
  NO_CAPACITY: 400,
  DUPLICATE_JOB: 400,
  INVALID_STATE: 400,
  PROVIDER_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** A core error (thrown, or a bulk item's) as Apolo answers its nearest kind; `jobId` names the job of a NOT_FOUND. */
export function fromCore(error: ErrorBody | SwitchyardError, jobId?: string): ApoloError {
  const code: ErrorCode = isErrorCode(error.code) ? error.code : 'INTERNAL';
  if (code === 'NOT_FOUND' && jobId) return noJob(jobId);
  return new ApoloError(STATUS[code], code === 'INTERNAL' ? 'Internal error' : error.message);
}

export function errorBody(error: ApoloError): string {
  return JSON.stringify({ error: error.message });
}

/** Refuse a websocket upgrade on its raw socket, the text in X-Error (header-safe) and the body. */
export function refuseUpgrade(socket: Duplex, error: ApoloError): void {
  const body = errorBody(error);
  const header = error.message.replace(/[^\x20-\x7e]/g, '?');
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `X-Error: ${header}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
