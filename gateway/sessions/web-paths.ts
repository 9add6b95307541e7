/**
 * Where a WEB session's app lives on the gateway: a path prefix of its own,
 * `/api/v1/sessions/web/<job>/<rank>/<port>/`, the same for every session on
 * that app, so an app can be told its base URL before anyone opens one
 * (Jupyter's `base_url`), and the session cookie is scoped to it alone.
 */
import { idSchema } from '../../shared/domain.js';
import { sessionPortSchema } from '../../shared/protocol.js';

export interface WebTarget {
  jobId: string;
  rank: number;
  port: number;
}

/** sessionPath('WEB') and a slash (not imported: session-opener.ts imports this module). */
const WEB_ROOT = '/api/v1/sessions/web/';

/** The prefix of an app's pages, with its trailing slash. */
export function webSessionPrefix(target: WebTarget): string {
  return `${WEB_ROOT}${target.jobId}/${target.rank}/${target.port}/`;
}

/** Whether a request path is under some WEB session's prefix (or is one without its slash). */
export function isWebSessionPath(path: string): boolean {
  return path.startsWith(WEB_ROOT);
}

/**
 * The app a request path names and the rest of the path as the app sees it (from its `/`);
 * null for a path that names none. `rest` is null for the prefix without its trailing slash.
 */
export function parseWebSessionPath(path: string): { target: WebTarget; rest: string | null } | null {
  if (!path.startsWith(WEB_ROOT)) return null;
  const match = /^([^/]+)\/(\d{1,6})\/(\d{1,5})(\/.*)?$/s.exec(path.slice(WEB_ROOT.length));
  if (!match) return null;
  const jobId = idSchema.safeParse(match[1]);
  const port = sessionPortSchema.safeParse(Number(match[3]));
  if (!jobId.success || !port.success) return null;
  return { target: { jobId: jobId.data, rank: Number(match[2]), port: port.data }, rest: match[4] ?? null };
}

/**
 * A redirect of the app, as the client must follow it: a path from the app's `/`, or an absolute
 * URL to the gateway's own host that the app built from the Host header, moved under the prefix;
 * relative ones and other hosts' stay as they are.
 */
export function rewriteLocation(location: string, prefix: string, gatewayHost: string | undefined): string {
  if (location.startsWith('//')) return location;
  if (location.startsWith('/')) return `${prefix}${location.slice(1)}`;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location;
  }
  if (!gatewayHost || url.host !== gatewayHost || url.pathname.startsWith(prefix)) return location;
  url.pathname = `${prefix}${url.pathname.slice(1)}`;
  return url.toString();
}

/** A cookie of the app, scoped under the prefix: its Path (from the app's `/`) moved there; without one the browser scopes it to the page's directory, already under it. */
export function rewriteCookiePath(setCookie: string, prefix: string): string {
  return setCookie.replace(/;\s*path=([^;]*)/i, (_all, path: string) => `; Path=${prefix}${path.trim().replace(/^\//, '')}`);
}

/** A Cookie header without one cookie (the session's own, which the app never sees); null when nothing is left. */
export function withoutCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part && part.split('=', 1)[0] !== name);
  return kept.length > 0 ? kept.join('; ') : null;
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}
