/**
 * The web app a test job serves (node and its standard library only, so that it runs wherever the
 * job does, whatever the sandbox lets it read): a page that sets a cookie, a redirect to an
 * absolute path, a page that shows the cookies and path it got, a body echo, under `/api/` the full
 * path (for an app told its prefix), and at `/ws` a websocket (RFC 6455 text frames; the test's
 * client is the `ws` library) that greets with the cookies it got and echoes each message. It
 * writes `listening` in its working directory once it listens.
 */
/** The job's command: the app on `port`, on the loopback of wherever the job runs. */
export function webAppCommand(port: number, host = '127.0.0.1'): string[] {
  const source = String.raw`
const http = require('node:http');
const crypto = require('node:crypto');
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
server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/ws') return socket.destroy();
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
  const send = (text) => {
    const data = Buffer.from(text);
    const n = data.length;
    const header = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x81, 127]), Buffer.alloc(8)]);
    if (n >= 65536) header.writeBigUInt64BE(BigInt(n), 2);
    socket.write(Buffer.concat([header, data]));
  };
  send('hello cookie:[' + (req.headers.cookie || '') + ']');
  let pending = Buffer.alloc(0);
  const take = (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 2) return;
      const opcode = pending[0] & 15;
      let length = pending[1] & 127;
      let at = 2;
      if (length === 126) { if (pending.length < 4) return; length = pending.readUInt16BE(2); at = 4; }
      else if (length === 127) { if (pending.length < 10) return; length = Number(pending.readBigUInt64BE(2)); at = 10; }
      if (pending.length < at + 4 + length) return;
      const mask = pending.subarray(at, at + 4);
      const payload = Buffer.from(pending.subarray(at + 4, at + 4 + length));
      for (let i = 0; i < length; i++) payload[i] ^= mask[i & 3];
      pending = pending.subarray(at + 4 + length);
      if (opcode === 8) return socket.end(Buffer.from([0x88, 0]));
      if (opcode === 1) send('echo:' + payload.toString('utf8'));
    }
  };
  socket.on('data', take);
  if (head.length > 0) take(head);
});
server.listen(${port}, ${JSON.stringify(host)}, () => require('node:fs').writeFileSync('listening', ''));
`;
  return ['/usr/bin/node', '-e', source];
}
