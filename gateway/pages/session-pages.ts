/**
 * The browser pages of interactive sessions. A session's URL opened in a browser (its http(s)
 * form: a GET that is not a websocket upgrade) answers a page: for SHELL a terminal (xterm.js),
 * for VNC a viewer (noVNC), that connects back to the same URL as a websocket. The credential is
 * checked as the upgrade checks it before the page is served, so a refused one shows why (the
 * browser's WebSocket API never tells a page the status of a refused upgrade). Everything the
 * pages load comes from the gateway (page-assets.ts), under a Content-Security-Policy that lets
 * them reach their own origin only; the credential, in the page's URL, is never sent as a
 * Referer. Every text put into the HTML is escaped.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { InteractiveSessionType } from '../../shared/domain.js';
import { SessionRefusal as UpgradeRefusal } from '../sessions/session-admission.js';
import type { SessionGrant } from '../sessions/session-credentials.js';
import { sessionPath } from '../sessions/session-opener.js';
import { createPageAssets, type PageAssets } from './page-assets.js';

/** The folder the pages' files are served from, relative to a session's path (so a path prefix of a proxy is kept). */
const ASSETS_DIR = 'pages';
const ASSETS_PREFIX = `${sessionPath('SHELL').replace(/[^/]+$/, '')}${ASSETS_DIR}/`;

/** The page of each session type that has one, and the script that runs it. */
const PAGES: Partial<Record<InteractiveSessionType, { script: string; title: string; styles: string[] }>> = {
  SHELL: { script: 'terminal.js', title: 'Shell', styles: ['xterm/xterm.css', 'pages.css'] },
  VNC: { script: 'vnc.js', title: 'Display', styles: ['pages.css'] },
};

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapes[c]!);
}

/**
 * Scripts from the gateway only, no inline script; connections to the page's own origin only
 * (its websocket included); styles from the gateway and from `<style>` elements that carry this
 * response's nonce (xterm.js makes some: browser/style-nonce.js stamps them); nothing framed,
 * no form, no base.
 */
export function contentSecurityPolicy(styleNonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${styleNonce}'`,
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

function sessionTitle(type: InteractiveSessionType, grant: SessionGrant): string {
  return `${PAGES[type]!.title} on rank ${grant.rank} of job ${grant.jobId} (${grant.username})`;
}

/** The page: a header with the session's name and its state, the terminal or display below. */
function renderPage(type: InteractiveSessionType, nonce: string, outcome: { grant: SessionGrant } | { refusal: UpgradeRefusal }): string {
  const page = PAGES[type]!;
  const refused = 'refusal' in outcome;
  const title = refused ? `${page.title}: refused` : sessionTitle(type, outcome.grant);
  const state = refused
    ? `<p id="status" role="status" data-state="refused" data-code="${escapeHtml(outcome.refusal.code)}">The session was refused: ${escapeHtml(outcome.refusal.message)}</p>`
    : `<p id="status" role="status" data-state="connecting">Connecting…</p>`;
  const styles = page.styles.map((href) => `<link rel="stylesheet" href="${ASSETS_DIR}/${escapeHtml(href)}">`).join('\n');
  const script = refused ? '' : `<script type="module" src="${ASSETS_DIR}/${escapeHtml(page.script)}"></script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="switchyard-style-nonce" content="${escapeHtml(nonce)}">
<title>${escapeHtml(title)} · Switchyard</title>
${styles}
${script}
</head>
<body data-session-type="${escapeHtml(type)}">
<header><h1>${escapeHtml(title)}</h1><span id="size"></span>${state}</header>
<main id="screen"></main>
</body>
</html>
`;
}

export interface SessionPagesOptions {
  /** The session endpoint's check of a request's credential (SessionEndpoint.admit). */
  admit(req: IncomingMessage, type: InteractiveSessionType): Promise<SessionGrant>;
  /** @default the installed packages' files */
  assets?: PageAssets;
}

export interface SessionPages {
  /** Whether a request path (not an upgrade) is a page or a file of one. */
  handles(path: string): boolean;
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createSessionPages(options: SessionPagesOptions): SessionPages {
  const assets = options.assets ?? createPageAssets();
  const pageTypes = new Map((Object.keys(PAGES) as InteractiveSessionType[]).map((type) => [sessionPath(type), type] as const));

  const sendText = (res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer, head: boolean) => {
    res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  };

  return {
    handles: (path) => pageTypes.has(path) || path.startsWith(ASSETS_PREFIX),
    async serve(req, res) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const head = req.method === 'HEAD';
      if (req.method !== 'GET' && !head) {
        return sendText(res, 405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' }, 'use GET\n', head);
      }
      const type = pageTypes.get(path);
      if (!type) {
        const asset = assets.get(path.slice(ASSETS_PREFIX.length));
        if (!asset) return sendText(res, 404, { 'content-type': 'text/plain; charset=utf-8' }, 'not found\n', head);
        return sendText(res, 200, { 'content-type': asset.contentType, 'cache-control': 'public, max-age=300' }, asset.body, head);
      }
      const nonce = randomBytes(16).toString('base64');
      let status = 200;
      let outcome: { grant: SessionGrant } | { refusal: UpgradeRefusal };
      try {
        outcome = { grant: await options.admit(req, type) };
      } catch (error) {
        if (!(error instanceof UpgradeRefusal)) throw error;
        status = error.status;
        outcome = { refusal: error };
      }
      const html = renderPage(type, nonce, outcome);
      // no-store: the page's URL holds the credential, and its answer depends on the moment.
      sendText(
        res,
        status,
        { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': contentSecurityPolicy(nonce), 'cache-control': 'no-store' },
        html,
        head,
      );
    },
  };
}
