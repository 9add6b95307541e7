/**
 * A browser-like client for WEB sessions in tests: fetch with a cookie jar that keeps each cookie
 * with its Path (sent only under it, as a browser does) and redirects followed by hand, so a test
 * sees each one; and a websocket that carries the jar's cookies.
 */
import { WebSocket } from 'ws';

interface JarCookie {
  value: string;
  path: string;
  httpOnly: boolean;
}

export interface Visit {
  status: number;
  headers: Headers;
  body: string;
  /** The URL of the last response, after redirects. */
  url: string;
  /** Every redirect followed, as [status, Location]. */
  redirects: Array<[number, string]>;
}

export class WebClient {
  readonly cookies = new Map<string, JarCookie>();

  /** The Cookie header a browser sends to this URL. */
  cookieHeader(url: string): string | undefined {
    const path = new URL(url).pathname;
    const sent = [...this.cookies].filter(([, c]) => path.startsWith(c.path)).map(([name, c]) => `${name}=${c.value}`);
    return sent.length > 0 ? sent.join('; ') : undefined;
  }

  private keep(url: string, headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at);
      const path = attributes.find((a) => /^path=/i.test(a))?.slice(5) ?? new URL(url).pathname.replace(/[^/]*$/, '');
      if (attributes.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, { value: pair!.slice(at + 1), path, httpOnly: attributes.some((a) => /^httponly$/i.test(a)) });
    }
  }

  /** GET (or another method) with the jar's cookies, following up to 5 redirects. */
  async visit(url: string, init: { method?: string; body?: Uint8Array<ArrayBuffer> } = {}): Promise<Visit> {
    const redirects: Array<[number, string]> = [];
    let current = url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {};
      const cookie = this.cookieHeader(current);
      if (cookie) headers.cookie = cookie;
      const res = await fetch(current, {
        method: hop === 0 ? init.method : 'GET',
        body: hop === 0 ? init.body : undefined,
        headers,
        redirect: 'manual',
      });
      this.keep(current, res.headers);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location && hop < 5) {
        redirects.push([res.status, location]);
        await res.arrayBuffer();
        current = new URL(location, current).toString();
        continue;
      }
      return { status: res.status, headers: res.headers, body: await res.text(), url: current, redirects };
    }
  }

  /**
   * A websocket to this URL (http → ws), with the jar's cookies; resolves once open, or rejects with
   * the refusal's status. `messages` holds every text message from the first: one that comes with
   * the upgrade's answer is emitted before a listener added after `open` could hear it.
   */
  websocket(url: string): Promise<{ socket: WebSocket; messages: string[] }> {
    const wsUrl = url.replace(/^http/, 'ws');
    const cookie = this.cookieHeader(url);
    const socket = new WebSocket(wsUrl, { headers: cookie ? { cookie } : {} });
    const messages: string[] = [];
    socket.on('message', (data: Buffer) => messages.push(data.toString('utf8')));
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve({ socket, messages }));
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => reject(Object.assign(new Error(`websocket refused: ${res.statusCode}`), { status: res.statusCode, body })));
      });
      socket.once('error', reject);
    });
  }
}
