/**
 * Backend.AI's HMAC request signing, verified as the manager verifies it
 * (manager/api/auth.py: check_date, _extract_auth_params, sign_request): over
 * the method, the raw request target, the Date (or X-BackendAI-Date) header as
 * sent, the raw Host, the content type without parameters (none sent:
 * application/octet-stream, as aiohttp reads it) and the version header, with a
 * key derived from the secret, the date's day and the host. The body is hashed
 * only for API versions before v4.20181215; later ones sign the hash of nothing.
 */
import { createHash, createHmac, getHashes, timingSafeEqual } from 'node:crypto';

import { authorizationFailed, invalidAuthParameters } from './backendai-errors.js';

/** How far a request's date may be from the gateway's clock, either way (the manager's 15 minutes). */
export const DATE_WINDOW_MS = 15 * 60_000;
/** From this API version on, the body is not hashed into the signature. */
const UNHASHED_BODY_SINCE = 'v4.20181215';

export interface Credential {
  signMethod: string;
  accessKey: string;
  signature: string;
}

/** `BackendAI signMethod=HMAC-SHA256, credential=<access key>:<signature>`; null when there is no header (an unsigned request). */
export function parseAuthorization(header: string | undefined): Credential | null {
  if (!header) return null;
  const space = header.indexOf(' ');
  if (space < 0) throw invalidAuthParameters('Malformed authorization header');
  const type = header.slice(0, space);
  if (type !== 'BackendAI' && type !== 'Sorna') throw invalidAuthParameters('Invalid authorization type name');
  const params = new Map<string, string>();
  for (const raw of header.slice(space + 1).split(',')) {
    const param = raw.trim();
    const equals = param.indexOf('=');
    if (equals < 0) throw invalidAuthParameters('Missing or malformed authorization parameters');
    params.set(param.slice(0, equals).trim(), param.slice(equals + 1).trim());
  }
  const credential = params.get('credential');
  const signMethod = params.get('signMethod');
  const colon = credential?.indexOf(':') ?? -1;
  if (credential === undefined || signMethod === undefined || colon < 0) throw invalidAuthParameters('Missing or malformed authorization parameters');
  return { signMethod, accessKey: credential.slice(0, colon), signature: credential.slice(colon + 1) };
}

export interface RequestDate {
  /** The header's value as sent: what is signed. */
  raw: string;
  /** Epoch milliseconds. */
  at: number;
  /** YYYYMMDD of the date in its own time zone (Python's strftime on the parsed date): the key's day. */
  day: string;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:(Z|UTC|GMT)|([+-])(\d{2}):?(\d{2})?)?$/i;
const RFC_1123 = /^[A-Za-z]{3}, (\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC)$/;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function wallTime(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number | null {
  const at = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(at);
  // Date.UTC rolls 2026-02-31 over into March: such a date is not one.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return at;
}

/**
 * The date a client signed with: ISO 8601 (the Python SDK's isoformat(), the JS SDK's
 * toISOString(); no zone is UTC, as the manager assumes) or an HTTP date. Null when it is absent
 * or neither (the manager's dateutil reads more shapes; no Backend.AI client sends them).
 */
export function parseRequestDate(raw: string): RequestDate | null {
  const iso = ISO.exec(raw.trim());
  if (iso) {
    const [, y, mo, d, h, mi, s = '0', frac = '0', , sign, oh = '0', om = '0'] = iso;
    const local = wallTime(+y!, +mo!, +d!, +h!, +mi!, +s, Math.floor(Number(`0.${frac}`) * 1000));
    if (local === null || +oh > 23 || +om > 59) return null;
    const offsetMs = sign ? (sign === '-' ? -1 : 1) * (+oh * 60 + +om) * 60_000 : 0;
    return { raw, at: local - offsetMs, day: `${y}${mo}${d}` };
  }
  const http = RFC_1123.exec(raw.trim());
  if (http) {
    const [, d, mon, y, h, mi, s] = http;
    const month = MONTHS.indexOf(mon!.toLowerCase()) + 1;
    const at = month > 0 ? wallTime(+y!, month, +d!, +h!, +mi!, +s!, 0) : null;
    if (at === null) return null;
    return { raw, at, day: `${y}${String(month).padStart(2, '0')}${d!.padStart(2, '0')}` };
  }
  return null;
}

type Headers = Record<string, string | string[] | undefined>;
const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Date, else X-BackendAI-Date, else X-Sorna-Date, within the window of `now`; else the manager's "Date/time sync error". */
export function checkDate(headers: Headers, now: number): RequestDate {
  const raw = header(headers, 'date') || (header(headers, 'x-backendai-date') ?? header(headers, 'x-sorna-date'));
  const date = raw ? parseRequestDate(raw) : null;
  if (!date || !(now - DATE_WINDOW_MS < date.at && date.at < now + DATE_WINDOW_MS)) throw invalidAuthParameters('Date/time sync error');
  return date;
}

/** Python's hashlib.algorithms_guaranteed that HMAC takes, by the names Node knows them. */
const HASHES: Record<string, string> = {
  md5: 'md5',
  sha1: 'sha1',
  sha224: 'sha224',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sha3_224: 'sha3-224',
  sha3_256: 'sha3-256',
  sha3_384: 'sha3-384',
  sha3_512: 'sha3-512',
  blake2b: 'blake2b512',
  blake2s: 'blake2s256',
};
const GUARANTEED = new Set([...Object.keys(HASHES), 'shake_128', 'shake_256']);

export interface SigningInput {
  method: string;
  /** The request target as signed: path and query, as sent. */
  path: string;
  /** The host as signed. */
  host: string;
  headers: Headers;
  date: RequestDate;
  /** The body as received; hashed only for versions before v4.20181215. */
  body: Buffer;
}

/** The content type as aiohttp gives it: lower-cased, without parameters; none sent is application/octet-stream. */
export function contentTypeOf(headers: Headers): string {
  const value = header(headers, 'content-type');
  if (!value) return 'application/octet-stream';
  return value.split(';')[0]!.trim().toLowerCase();
}

/** The hex signature the manager computes for a request with `secretKey`. */
export function signRequest(signMethod: string, input: SigningInput, secretKey: string): string {
  const parts = signMethod.split('-');
  // Python unpacks two parts or raises ValueError, which the manager answers "Invalid signature".
  if (parts.length !== 2) throw authorizationFailed('Invalid signature');
  const [mac, hash] = parts.map((part) => part.toLowerCase()) as [string, string];
  if (mac !== 'hmac') throw invalidAuthParameters('Unsupported request signing method (MAC type)');
  if (!GUARANTEED.has(hash)) throw invalidAuthParameters('Unsupported request signing method (hash type)');
  const algorithm = HASHES[hash];
  // SHAKE has no fixed digest size: Python's hmac refuses it with ValueError.
  if (!algorithm || !getHashes().includes(algorithm)) throw authorizationFailed('Invalid signature');
  const newVersion = header(input.headers, 'x-backendai-version');
  const version = newVersion || header(input.headers, 'x-sorna-version');
  if (!version) throw invalidAuthParameters('API version missing in request headers');
  const contentType = contentTypeOf(input.headers);
  const hashed = version < UNHASHED_BODY_SINCE && contentType !== 'multipart/form-data' ? input.body : Buffer.alloc(0);
  const canonical = [
    input.method,
    input.path,
    input.date.raw,
    `host:${input.host}`,
    `content-type:${contentType}`,
    `x-${newVersion !== undefined ? 'backendai' : 'sorna'}-version:${version}`,
    createHash(algorithm).update(hashed).digest('hex'),
  ].join('\n');
  const dayKey = createHmac(algorithm, Buffer.from(secretKey, 'utf8')).update(input.date.day).digest();
  const hostKey = createHmac(algorithm, dayKey).update(input.host).digest();
  return createHmac(algorithm, hostKey).update(canonical, 'utf8').digest('hex');
}

/** Whether two signatures are the same, in constant time (the manager's secrets.compare_digest). */
export function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
