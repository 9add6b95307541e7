/**
 * The web dashboard (gateway/dashboard/), served at /ui as the static files `vite build` made:
 * hashed assets cached for good, index.html revalidated each time, and every other path under
 * /ui that names no file answered with index.html, so the dashboard's router takes it (a
 * reload or a shared link of /ui/jobs/42 works). The file table is read from the build folder
 * and read again when index.html changes (a rebuild); a request names an entry of it or
 * nothing, so no path from a request reaches the file system.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { COMMON_HEADERS } from './session-pages.js';

export const DASHBOARD_PATH = '/ui';
/** Where `npm run build:dashboard` writes (gateway/dashboard/vite.config.ts). */
export const DASHBOARD_BUILD_DIR = fileURLToPath(new URL('../dashboard/dist/', import.meta.url));

/** Whether there is a build to serve (`npm start` makes one first). */
export const dashboardBuilt = (dir = DASHBOARD_BUILD_DIR) => existsSync(join(dir, 'index.html'));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Scripts and styles from the gateway only (the build inlines none), connections (GraphQL over
 * HTTP and its websocket) to the gateway only, nothing framed. The session pages it opens have
 * their own policy.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Vite names the files under assets/ by a hash of their content: a new build is a new name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

interface BuiltFile {
  contentType: string;
  body: Buffer;
}

export interface DashboardFiles {
  handles(path: string): boolean;
  serve(req: IncomingMessage, res: ServerResponse): void;
}

export interface DashboardFilesOptions {
  /** @default DASHBOARD_BUILD_DIR */
  dir?: string;
}

/** Every file of a served type under `dir`, by its path relative to `dir` with `/`. */
function readBuild(dir: string): Map<string, BuiltFile> {
  const files = new Map<string, BuiltFile>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    const file = join(entry.parentPath, entry.name);
    files.set(relative(dir, file).split(sep).join('/'), { contentType: type, body: readFileSync(file) });
  }
  return files;
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Switchyard dashboard not built</title>
<h1>The dashboard is not built</h1><p>Run <code>npm run build:dashboard</code> (<code>npm start</code> does it first) and reload.</p></html>
`;

export function createDashboardFiles(options: DashboardFilesOptions = {}): DashboardFiles {
  const dir = options.dir ?? DASHBOARD_BUILD_DIR;
  let build: { indexMtimeMs: number; files: Map<string, BuiltFile> } | null = null;

  /** The current build's files, or null when there is none. */
  const currentBuild = () => {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(join(dir, 'index.html')).mtimeMs;
    } catch {
      return null;
    }
    if (build?.indexMtimeMs !== mtimeMs) build = { indexMtimeMs: mtimeMs, files: readBuild(dir) };
    return build.files;
  };

  const send = (res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer, head: boolean) => {
    res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  };
  const html = { 'content-type': CONTENT_TYPES['.html']!, 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-cache' };

  return {
    handles: (path) => path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`),
    serve(req, res) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const head = req.method === 'HEAD';
      if (req.method !== 'GET' && !head) return send(res, 405, { 'content-type': CONTENT_TYPES['.txt']!, allow: 'GET, HEAD' }, 'use GET\n', head);
      // The build's URLs are relative to /ui/: /ui alone would resolve them against /.
      if (path === DASHBOARD_PATH) return send(res, 308, { location: `${DASHBOARD_PATH}/`, 'content-type': CONTENT_TYPES['.txt']! }, '', head);
      const files = currentBuild();
      if (!files) return send(res, 503, { ...html, 'cache-control': 'no-store' }, NOT_BUILT, head);
      const name = path.slice(DASHBOARD_PATH.length + 1);
      const file = files.get(name);
      if (file && name !== 'index.html') {
        return send(
          res,
          200,
          { 'content-type': file.contentType, 'cache-control': name.startsWith('assets/') ? IMMUTABLE : 'no-cache' },
          file.body,
          head,
        );
      }
      // A missing file (a name with an extension, or under assets/) is a 404, not the page: a stale
      // script would otherwise be answered with HTML.
      if (name !== 'index.html' && (name.startsWith('assets/') || extname(name) !== ''))
        return send(res, 404, { 'content-type': CONTENT_TYPES['.txt']! }, 'not found\n', head);
      send(res, 200, html, files.get('index.html')!.body, head);
    },
  };
}
