/**
 * Backend.AI request signing against golden vectors made by the platforms' own code:
 * the Python SDK's generate_signature (backend.ai-client 23.9.10, ai/backend/client/auth.py),
 * the npm JS SDK's getAuthenticationString/getSignKey (backend.ai-client 21.3.1), and the
 * manager's sign_request formula for a legacy version that hashes the body
 * (manager/api/auth.py), each run once with the inputs below.
 */
import { describe, expect, it } from 'vitest';

import { BaiError } from './backendai-errors.js';
import { checkDate, contentTypeOf, parseAuthorization, parseRequestDate, sameSignature, signRequest } from './backendai-signature.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function sign(signMethod: string, request: { method: string; path: string; host: string; headers: Record<string, string>; body?: string }) {
  const date = checkDate(request.headers, parseRequestDate(request.headers.date ?? request.headers['x-backendai-date']!)!.at);
  return signRequest(signMethod, { ...request, date, body: Buffer.from(request.body ?? '') }, SECRET);
}

function refusal(run: () => unknown): { status: number; msg: string | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof BaiError) return { status: error.status, msg: error.msg };
    throw error;
  }
  throw new Error('not refused');
}

describe('Backend.AI signatures', () => {
  it("matches the Python SDK's: Date header with microseconds, text/plain for a body-less GET, the path with the endpoint's prefix", () => {
    const headers = { date: '2026-12-01T09:47:29.296123+00:00', 'content-type': 'text/plain', 'x-backendai-version': 'v7.20230615' };
    expect(sign('HMAC-SHA256', { method: 'GET', path: '/backendai/session/abc?owner_access_key=X', host: '127.0.0.1:8081', headers })).toBe(
      '2a8040ccef194b57cb62efb113fc894a5b89d9cbb4a765c1101689444da5d59b',
    );
  });

  it('keys on the day of the date in its own zone, and signs an SSE request (no Content-Type) as application/octet-stream', () => {
    // 01:30 at +09:00 is the 1st in UTC, but the key is made from the 2nd, as Python's strftime makes it.
    const headers = { date: '2026-12-02T01:30:00+09:00', 'x-backendai-version': 'v7.20230615' };
    expect(parseRequestDate(headers.date)).toEqual({ raw: headers.date, at: Date.UTC(2026, 11, 1, 16, 30), day: '20261202' });
    expect(sign('HMAC-SHA256', { method: 'GET', path: '/backendai/events/session?sessionId=0190&scope=*', host: '127.0.0.1:8081', headers })).toBe(
      '082f4c04aa4244461374c9840b85537b254143c6c5421bd797f4bbaa71c5a0c2',
    );
  });

  it('signs with the hash the method names (HMAC-SHA512)', () => {
    const headers = {
      date: '2026-12-01T09:47:29.296123+00:00',
      'content-type': 'application/json; charset=utf-8',
      'x-backendai-version': 'v7.20230615',
    };
    expect(sign('HMAC-SHA512', { method: 'POST', path: '/backendai/admin/gql', host: '127.0.0.1:8081', headers })).toBe(
      '5ced4fad612aeb026ba2fedd077db94bb90307a6c3d0df01f90b66cf8b96cd8d0fcb5fbdbc02e34502cd26e4ebe0ee9ebffc6b2ea2fb6c46dd220b00bbd86771',
    );
  });

  it("matches the npm JS SDK's: X-BackendAI-Date, and its endpoint's path signed as part of the host", () => {
    const headers = { 'x-backendai-date': '2026-12-01T09:47:29.296Z', 'content-type': 'application/json', 'x-backendai-version': 'v4.20190615' };
    expect(sign('HMAC-SHA256', { method: 'POST', path: '/admin/graphql', host: '127.0.0.1:8081/backendai', headers, body: '{"query":"{}"}' })).toBe(
      '0953214a6d193f63560a7e74f9915415be19d01c522f586b27d558765614b766',
    );
  });

  it('hashes the body for API versions before v4.20181215, and only then', () => {
    const headers = { 'x-backendai-date': '2026-12-01T09:47:29.296Z', 'content-type': 'application/json', 'x-backendai-version': 'v3.20170615' };
    const request = { method: 'POST', path: '/kernel/create', host: '127.0.0.1:8081', headers, body: '{"lang":"python:3.9"}' };
    expect(sign('HMAC-SHA256', request)).toBe('ac95fedcf13576b11d9e6106718f18fea32131d4422bcaaa0d3cff84c4c2dd4e');
    expect(sign('HMAC-SHA256', { ...request, body: '{"lang":"other"}' })).not.toBe(
      'ac95fedcf13576b11d9e6106718f18fea32131d4422bcaaa0d3cff84c4c2dd4e',
    );
    const current = { ...request, headers: { ...headers, 'x-backendai-version': 'v7.20230615' } };
    expect(sign('HMAC-SHA256', current)).toBe(sign('HMAC-SHA256', { ...current, body: 'anything else' }));
  });

  it('refuses, as the manager does, a date outside ±15 minutes or none (400), and an unknown signing method', () => {
    const at = Date.UTC(2026, 11, 1, 9, 47, 29);
    const headers = { date: '2026-12-01T09:47:29Z' };
    expect(checkDate(headers, at + 14 * 60_000).day).toBe('20261201');
    expect(refusal(() => checkDate(headers, at + 15 * 60_000))).toEqual({ status: 400, msg: 'Date/time sync error' });
    expect(refusal(() => checkDate(headers, at - 16 * 60_000))).toEqual({ status: 400, msg: 'Date/time sync error' });
    expect(refusal(() => checkDate({}, at))).toEqual({ status: 400, msg: 'Date/time sync error' });
    expect(refusal(() => checkDate({ date: 'yesterday' }, at))).toEqual({ status: 400, msg: 'Date/time sync error' });
    // A date without a zone is UTC; an HTTP date is read too.
    expect(parseRequestDate('2026-12-01T09:47:29')?.at).toBe(at);
    expect(parseRequestDate('Tue, 01 Dec 2026 09:47:29 GMT')).toEqual({ raw: 'Tue, 01 Dec 2026 09:47:29 GMT', at, day: '20261201' });
    expect(parseRequestDate('2026-02-31T00:00:00Z')).toBeNull();
    const date = checkDate(headers, at);
    const input = { method: 'GET', path: '/', host: 'h', headers: { 'x-backendai-version': 'v7.20230615' }, date, body: Buffer.alloc(0) };
    expect(refusal(() => signRequest('CMAC-SHA256', input, SECRET))).toMatchObject({ status: 400 });
    expect(refusal(() => signRequest('HMAC-WHIRLPOOL', input, SECRET))).toMatchObject({ status: 400 });
    expect(refusal(() => signRequest('HMAC', input, SECRET))).toEqual({ status: 401, msg: 'Invalid signature' });
    expect(refusal(() => signRequest('HMAC-SHA256', { ...input, headers: {} }, SECRET))).toEqual({
      status: 400,
      msg: 'API version missing in request headers',
    });
  });

  it('reads the Authorization header as the manager does', () => {
    expect(parseAuthorization(undefined)).toBeNull();
    expect(parseAuthorization('BackendAI signMethod=HMAC-SHA256, credential=AKIAX:ab:cd')).toEqual({
      signMethod: 'HMAC-SHA256',
      accessKey: 'AKIAX',
      signature: 'ab:cd',
    });
    expect(parseAuthorization('Sorna credential=AK:sig,signMethod=HMAC-SHA1')).toMatchObject({ signMethod: 'HMAC-SHA1', accessKey: 'AK' });
    expect(refusal(() => parseAuthorization('Bearer token'))).toEqual({ status: 400, msg: 'Invalid authorization type name' });
    expect(refusal(() => parseAuthorization('BackendAI'))).toEqual({ status: 400, msg: 'Malformed authorization header' });
    expect(refusal(() => parseAuthorization('BackendAI signMethod=HMAC-SHA256'))).toMatchObject({ status: 400 });
    expect(refusal(() => parseAuthorization('BackendAI signMethod=HMAC-SHA256, credential=nocolon'))).toMatchObject({ status: 400 });
  });

  it('compares signatures whole, and reads the content type as aiohttp does', () => {
    expect(sameSignature('abc', 'abc')).toBe(true);
    expect(sameSignature('abc', 'abd')).toBe(false);
    expect(sameSignature('abc', 'ab')).toBe(false);
    expect(contentTypeOf({})).toBe('application/octet-stream');
    expect(contentTypeOf({ 'content-type': 'Application/JSON; charset=UTF-8' })).toBe('application/json');
  });
});
