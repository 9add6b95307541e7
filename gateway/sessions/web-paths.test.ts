import { describe, expect, it } from 'vitest';

import { cookieValue, parseWebSessionPath, rewriteCookiePath, rewriteLocation, webSessionPrefix, withoutCookie } from './web-paths.js';

const PREFIX = '/api/v1/sessions/web/job-1/0/8888/';

describe('WEB session paths', () => {
  it('name the app by job, rank and port, and the rest of the path as the app sees it', () => {
    expect(webSessionPrefix({ jobId: 'job-1', rank: 0, port: 8888 })).toBe(PREFIX);
    expect(parseWebSessionPath(`${PREFIX}lab/tree?x`)).toEqual({ target: { jobId: 'job-1', rank: 0, port: 8888 }, rest: '/lab/tree?x' });
    expect(parseWebSessionPath(PREFIX.slice(0, -1))).toMatchObject({ rest: null });
    for (const bad of [
      '/api/v1/sessions/web/job-1/0',
      '/api/v1/sessions/web/job-1/0/70000/',
      '/api/v1/sessions/web/j%2F1/0/80/',
      '/api/v1/sessions/shell',
    ])
      expect(parseWebSessionPath(bad)).toBeNull();
  });

  it('move the app’s redirects to its own paths and to the gateway’s host under the prefix, and leave the rest', () => {
    expect(rewriteLocation('/login?next=%2F', PREFIX, 'gw:8080')).toBe(`${PREFIX}login?next=%2F`);
    expect(rewriteLocation('http://gw:8080/tree', PREFIX, 'gw:8080')).toBe(`http://gw:8080${PREFIX}tree`);
    expect(rewriteLocation(`http://gw:8080${PREFIX}tree`, PREFIX, 'gw:8080')).toBe(`http://gw:8080${PREFIX}tree`);
    expect(rewriteLocation('https://elsewhere.example/x', PREFIX, 'gw:8080')).toBe('https://elsewhere.example/x');
    expect(rewriteLocation('//elsewhere.example/x', PREFIX, 'gw:8080')).toBe('//elsewhere.example/x');
    expect(rewriteLocation('tree', PREFIX, 'gw:8080')).toBe('tree');
  });

  it('scope the app’s cookies under the prefix, and keep the session’s own cookie from the app', () => {
    expect(rewriteCookiePath('a=1; Path=/; HttpOnly', PREFIX)).toBe(`a=1; Path=${PREFIX}; HttpOnly`);
    expect(rewriteCookiePath('a=1; path=/lab', PREFIX)).toBe(`a=1; Path=${PREFIX}lab`);
    expect(rewriteCookiePath('a=1; Secure', PREFIX)).toBe('a=1; Secure');
    expect(withoutCookie('switchyard_session=t; a=1; b=2', 'switchyard_session')).toBe('a=1; b=2');
    expect(withoutCookie('switchyard_session=t', 'switchyard_session')).toBeNull();
    expect(cookieValue('a=1; switchyard_session=tok.en=', 'switchyard_session')).toBe('tok.en=');
    expect(cookieValue('a=1', 'switchyard_session')).toBeNull();
  });
});
