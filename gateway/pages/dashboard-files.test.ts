import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDashboardFiles, DASHBOARD_CSP, dashboardBuilt } from './dashboard-files.js';

let dir: string;
let server: Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-dashboard-files-'));
  const files = createDashboardFiles({ dir });
  server = createServer((req, res) => {
    if (files.handles((req.url ?? '/').split('?')[0]!)) files.serve(req, res);
    else res.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A build as `vite build` leaves it: index.html naming a hashed script under assets/. */
function writeBuild(hash: string, mtimeSeconds: number): void {
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'assets', `index-${hash}.js`), `console.log(${JSON.stringify(hash)});`);
  writeFileSync(join(dir, 'index.html'), `<!doctype html><script type="module" src="/ui/assets/index-${hash}.js"></script>`);
  utimesSync(join(dir, 'index.html'), mtimeSeconds, mtimeSeconds);
}

describe('the dashboard’s files at /ui', () => {
  it('answers 503 with how to build it while there is no build, and takes no other path', async () => {
    expect(dashboardBuilt(dir)).toBe(false);
    const res = await fetch(`${base}/ui/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build:dashboard');
    expect(createDashboardFiles({ dir }).handles('/uix')).toBe(false);
    expect(createDashboardFiles({ dir }).handles('/graphql')).toBe(false);
  });

  it('serves index.html for every route, files by type, hashed assets for good, and a missing file as 404', async () => {
    writeBuild('aaaa1111', 1_000);
    expect(dashboardBuilt(dir)).toBe(true);
    for (const path of ['/ui/', '/ui/jobs', '/ui/jobs/01a2-b3?x=1', '/ui/index.html']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
      expect(await res.text()).toContain('index-aaaa1111.js');
    }
    const script = await fetch(`${base}/ui/assets/index-aaaa1111.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    for (const path of ['/ui/assets/index-gone.js', '/ui/assets/other', '/ui/favicon.ico', '/ui/assets/..%2f..%2fpackage.json']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
  });

  it('redirects /ui to /ui/, refuses other methods, and answers HEAD without a body', async () => {
    const redirect = await fetch(`${base}/ui`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/ui/']);
    const post = await fetch(`${base}/ui/`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const head = await fetch(`${base}/ui/jobs`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
  });

  it('serves a new build once index.html changes, without a restart', async () => {
    writeBuild('bbbb2222', 2_000);
    expect(await (await fetch(`${base}/ui/`)).text()).toContain('index-bbbb2222.js');
    expect((await fetch(`${base}/ui/assets/index-bbbb2222.js`)).status).toBe(200);
  });
});
