/**
 * Headless Chromium for the browser pages' tests: Debian's `chromium` (installed by .ci/run),
 * driven by playwright-core, which brings no browser of its own. SWITCHYARD_CHROMIUM names
 * another binary.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.SWITCHYARD_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set SWITCHYARD_CHROMIUM`);
  // As root, Chromium runs only without its sandbox; the pages under test are the gateway's own.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** What a page did that it should not: errors thrown, Content-Security-Policy violations, requests to another origin. */
export interface PageProblems {
  errors: string[];
  violations: string[];
  foreignRequests: string[];
}

/** Records a page's problems from now on; `origin` is the gateway's. */
export function watchPage(page: Page, origin: string): PageProblems {
  const problems: PageProblems = { errors: [], violations: [], foreignRequests: [] };
  page.on('pageerror', (error) => problems.errors.push(error.message));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.violations.push(message.text());
    else if (message.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(message.text())) problems.errors.push(message.text());
  });
  const check = (address: string) => {
    const url = new URL(address);
    if (`${url.protocol.replace(/^ws/, 'http')}//${url.host}` !== origin) problems.foreignRequests.push(address);
  };
  page.on('request', (request) => check(request.url()));
  page.on('websocket', (socket) => check(socket.url()));
  return problems;
}
