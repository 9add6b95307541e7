import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { SessionRefusal as UpgradeRefusal } from '../sessions/session-admission.js';
import type { SessionGrant } from '../sessions/session-credentials.js';
import { createSessionPages, escapeHtml, type SessionPagesOptions } from './session-pages.js';

const grant: SessionGrant = {
  id: 'c1',
  username: '<b>mallory</b>"',
  jobId: 'job-1',
  rank: 0,
  type: 'SHELL',
  providerId: 'edge',
  port: null,
  keepPathPrefix: false,
  expiresAt: 0,
};

let server: Server | null = null;

/** The pages behind a loopback HTTP server; answers its base URL. */
async function serve(admit: SessionPagesOptions['admit']): Promise<string> {
  const pages = createSessionPages({ admit });
  server = createServer((req, res) => void pages.serve(req, res));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

describe('the sessions’ browser pages', () => {
  it('escapes every character that could end an attribute or open a tag', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('serves the terminal page with a strict policy, a fresh style nonce and the session’s names escaped', async () => {
    const base = await serve(async () => grant);
    const first = await fetch(`${base}/api/v1/sessions/shell?token=t`);
    const second = await fetch(`${base}/api/v1/sessions/shell?token=t`);
    expect(first.status).toBe(200);
    const policy = first.headers.get('content-security-policy')!;
    expect(policy).toMatch(/^default-src 'none'; script-src 'self'; style-src 'self' 'nonce-[\w+/=]{24}'; connect-src 'self';/);
    expect(policy).not.toBe(second.headers.get('content-security-policy'));
    expect(first.headers.get('referrer-policy')).toBe('no-referrer');
    expect(first.headers.get('cache-control')).toBe('no-store');
    const html = await first.text();
    expect(html).toContain('Shell on rank 0 of job job-1 (&lt;b&gt;mallory&lt;/b&gt;&quot;)');
    expect(html).not.toContain('<b>mallory');
    expect(html).toContain('<script type="module" src="pages/terminal.js"></script>');
    // The page never holds the credential: its script takes it from its own URL.
    expect(html).not.toContain('token');
  });

  it('shows a refusal with its status and message escaped, and no script', async () => {
    const base = await serve(async () => {
      throw new UpgradeRefusal(401, 'UNAUTHENTICATED', '<img src=x onerror=alert(1)>');
    });
    const res = await fetch(`${base}/api/v1/sessions/vnc?token=t`);
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain('data-state="refused" data-code="UNAUTHENTICATED">The session was refused: &lt;img src=x onerror=alert(1)&gt;</p>');
    expect(html).not.toContain('<script');
  });

  it('serves the packages’ files it knows and nothing else', async () => {
    const base = await serve(async () => grant);
    const rfb = await fetch(`${base}/api/v1/sessions/pages/novnc/core/rfb.js`);
    expect(rfb.status).toBe(200);
    expect(rfb.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(rfb.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base}/api/v1/sessions/pages/xterm/xterm.mjs`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/sessions/pages/xterm/xterm.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    for (const path of ['pages/../../../package.json', 'pages/%2e%2e/session-pages.ts', 'pages/novnc/package.json', 'pages/xterm/xterm.mjs.map']) {
      expect((await fetch(`${base}/api/v1/sessions/${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${base}/api/v1/sessions/shell?token=t`, { method: 'POST' })).status).toBe(405);
  });
});
