/** What every WEB backend must do with the test app (web-app.ts) through the gateway's session URL. */
import { expect } from 'vitest';

import { eventually } from './graphql-client.js';
import { WebClient } from './web-client.js';

/** The path a WEB session's app is served under. */
export function webPrefix(jobId: string, rank: number, port: number): string {
  return `/api/v1/sessions/web/${jobId}/${rank}/${port}/`;
}

/** Wait until the app answers through the session (where the test cannot see the job's `listening` file). */
export async function waitForWebApp(sessionUrl: string, timeoutMs = 30_000): Promise<void> {
  const probe = new WebClient();
  await probe.visit(sessionUrl);
  const page = new URL(new URL(sessionUrl).pathname, sessionUrl).toString();
  await eventually(async () => (await probe.visit(page)).status === 200, { timeoutMs, what: 'the app to answer through the session' });
}

/**
 * A browser's first visit (the credential becomes a cookie of the prefix), the app's page and its
 * cookie scoped to the prefix, its redirect to an absolute path landing under the prefix, and a
 * websocket that carries the cookies, greets and echoes.
 */
export async function expectWebAppServed(sessionUrl: string, prefix: string): Promise<WebClient> {
  const browser = new WebClient();
  const first = await browser.visit(sessionUrl);
  expect([first.status, first.redirects]).toEqual([200, [[303, prefix]]]);
  expect(first.body).toContain(`prefix:${prefix.slice(0, -1)}`);
  expect(browser.cookies.get('app_visit')).toMatchObject({ path: prefix });
  const landed = await browser.visit(new URL(`${prefix}go`, sessionUrl).toString());
  expect(landed.redirects).toEqual([[302, `${prefix}landing?from=go`]]);
  expect(landed.body).toBe('landed /landing?from=go cookie:[app_visit=yes]');
  const { socket, messages } = await browser.websocket(new URL(`${prefix}ws`, sessionUrl).toString());
  socket.send('ping');
  await eventually(async () => messages.length === 2, { what: 'the greeting and the echo' });
  expect(messages).toEqual(['hello cookie:[app_visit=yes]', 'echo:ping']);
  socket.close();
  return browser;
}
