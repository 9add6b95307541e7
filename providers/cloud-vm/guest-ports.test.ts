import { describe, expect, it } from 'vitest';

import { hostForwardOf } from './guest-ports.js';

/** `info usernet` as QEMU 7.2 answers it, with two forwards and a guest's own connection. */
const USERNET = [
  'Hub -1 (net0):',
  '  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ',
  '  TCP[HOST_FORWARD]  13       127.0.0.1 41517       10.0.2.15  8080     0     0',
  '  TCP[HOST_FORWARD]  14       127.0.0.1 39001       10.0.2.15  8888     0     0',
  '  TCP[ESTABLISHED]   15       127.0.0.1 41517       10.0.2.15  8080     0     0',
  '',
].join('\r\n');

describe('the host port of a guest port’s forward', () => {
  it('is read from the forward to that guest port', () => {
    expect(hostForwardOf(USERNET, 8080)).toBe(41517);
    expect(hostForwardOf(USERNET, 8888)).toBe(39001);
  });

  it('is null for a port with no forward, and for a table with none', () => {
    expect(hostForwardOf(USERNET, 9000)).toBeNull();
    expect(hostForwardOf('Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n', 8080)).toBeNull();
  });
});
