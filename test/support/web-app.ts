/**
 * The web app a test job serves (node, its standard library and `ws` from this repository, which
 * the sandbox can read): a page that sets a cookie, a redirect to an absolute path, a page that
 * shows the cookies and path it got, a body echo, a websocket echo, and under `/api/` the full path
 * (for an app told its prefix). It writes `listening` in its working directory once it listens.
 */
import { resolve } from 'node:path';

/** The job's command: the app on `port`, on the loopback of wherever the job runs. */
export function webAppCommand(port: number, host = '127.0.0.1'): string[] {
  const wsPath = resolve('node_modules/ws');
  const source = String.raw`
const http = require('node:http');
const { WebSocketServer } = require(${JSON.stringify(wsPath)});
const server = http.createServer((req, res) => {
  if (req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'app_visit=yes; Path=/; HttpOnly' });
    return res.end('<a href="go">go</a> prefix:' + req.headers['x-forwarded-prefix'] + ' host:' + req.headers.host);
  }
  if (req.url === '/go') {
    res.writeHead(302, { location: '/landing?from=go' });
    return res.end();
  }
  if (req.url.startsWith('/landing')) return res.end('landed ' + req.url + ' cookie:[' + (req.headers.cookie || '') + ']');
  if (req.url === '/echo' && req.method === 'POST') return req.pipe(res);
  if (req.url.startsWith('/api/')) return res.end('full:' + req.url);
  res.writeHead(404);
  res.end('no such page');
});
new WebSocketServer({ server, path: '/ws' }).on('connection', (ws, req) => {
  ws.send('hello cookie:[' + (req.headers.cookie || '') + ']');
  ws.on('message', (m) => ws.send('echo:' + m));
});
server.listen(${port}, ${JSON.stringify(host)}, () => require('node:fs').writeFileSync('listening', ''));
`;
  return ['/usr/bin/node', '-e', source];
}
