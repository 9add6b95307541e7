/**
 * A VNC viewer's side of RFB (RFC 6143) for tests, over the gateway's websocket (subprotocol
 * `binary`, as noVNC asks for it): the handshake with security type None, ServerInit, and one
 * framebuffer update in the raw encoding.
 */
import { WebSocket } from 'ws';

export interface ServerInit {
  version: string;
  securityTypes: number[];
  width: number;
  height: number;
  bitsPerPixel: number;
  name: string;
}

export interface RfbClient {
  readonly socket: WebSocket;
  /** ProtocolVersion, security None, ClientInit (shared) and the server's answer. */
  handshake(): Promise<ServerInit>;
  /** A whole-screen, non-incremental FramebufferUpdateRequest; answers the pixels of the update's raw rectangles. */
  framebuffer(width: number, height: number): Promise<Buffer>;
  close(): void;
}

export function connectRfb(url: string, timeoutMs = 30_000): Promise<RfbClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ['binary']);
    let received = Buffer.alloc(0);
    let wake: () => void = () => undefined;
    let closed: string | null = null;
    socket.on('message', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      wake();
    });
    socket.on('close', (code, reason) => {
      closed = `${code} ${reason.toString()}`;
      wake();
    });
    socket.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    socket.on('error', reject);
    /** The next `n` bytes the server sent, whatever its message boundaries. */
    const read = async (n: number): Promise<Buffer> => {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (closed !== null) throw new Error(`the session closed (${closed}) with ${received.length} of ${n} bytes read`);
        if (Date.now() > deadline) throw new Error(`${n} bytes of RFB did not come in ${timeoutMs} ms (${received.length} did)`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
      const out = received.subarray(0, n);
      received = received.subarray(n);
      return out;
    };
    const client: RfbClient = {
      socket,
      async handshake() {
        const version = (await read(12)).toString('latin1');
        socket.send(Buffer.from('RFB 003.008\n', 'latin1'));
        const count = (await read(1))[0]!;
        if (count === 0) throw new Error(`the server refused the connection: ${(await read((await read(4)).readUInt32BE(0))).toString()}`);
        const securityTypes = [...(await read(count))];
        socket.send(Buffer.of(1));
        const result = (await read(4)).readUInt32BE(0);
        if (result !== 0) throw new Error(`security None failed (${result})`);
        socket.send(Buffer.of(1));
        const init = await read(24);
        const name = (await read(init.readUInt32BE(20))).toString('utf8');
        return { version, securityTypes, width: init.readUInt16BE(0), height: init.readUInt16BE(2), bitsPerPixel: init[4]!, name };
      },
      async framebuffer(width, height) {
        const request = Buffer.alloc(10);
        request.writeUInt8(3, 0);
        request.writeUInt8(0, 1);
        request.writeUInt16BE(width, 6);
        request.writeUInt16BE(height, 8);
        socket.send(request);
        const header = await read(4);
        if (header[0] !== 0) throw new Error(`expected a FramebufferUpdate, got message type ${header[0]}`);
        const pixels: Buffer[] = [];
        for (let rect = header.readUInt16BE(2); rect > 0; rect--) {
          const r = await read(12);
          const [w, h, encoding] = [r.readUInt16BE(4), r.readUInt16BE(6), r.readInt32BE(8)];
          // Pseudo-encodings (negative) carry no pixels here; the default pixel format is 32 bits.
          if (encoding === 0) pixels.push(await read(w * h * 4));
          else if (encoding >= 0) throw new Error(`unexpected encoding ${encoding}`);
        }
        return Buffer.concat(pixels);
      },
      close: () => socket.close(),
    };
    socket.once('open', () => resolve(client));
  });
}
