/** What each session type's websocket speaks: k8s channels for SHELL, raw RFB bytes for VNC. */
import { describe, expect, it } from 'vitest';

import { CLIENT_PROTOCOLS } from './client-protocols.js';

describe('the sessions’ client protocols', () => {
  it('relay a VNC viewer’s RFB bytes as they are, both ways, with no message of their own at the end', () => {
    const vnc = CLIENT_PROTOCOLS.VNC!;
    expect(vnc.subprotocol).toBe('binary');
    // A channel byte here would be read by the viewer as RFB: there is none.
    const clientInit = Buffer.of(1);
    expect(vnc.decode(clientInit)).toEqual({ kind: 'stdin', data: clientInit });
    expect(vnc.encode(1, Buffer.from('RFB 003.008\n'))).toEqual(Buffer.from('RFB 003.008\n'));
    expect(vnc.lastWords({ exited: true, exitCode: null, command: 'vnc' })).toBeNull();
    expect(vnc.lastWords({ exited: false, reason: 'the job ended' })).toBeNull();
  });

  it('frame a shell’s bytes by channel, and end with the exit code’s Status on the error channel', () => {
    const shell = CLIENT_PROTOCOLS.SHELL!;
    expect(shell.subprotocol).toBe('v5.channel.k8s.io');
    expect(shell.decode(Buffer.from('\x00ls\n'))).toEqual({ kind: 'stdin', data: Buffer.from('ls\n') });
    expect(shell.encode(1, Buffer.from('hi'))).toEqual(Buffer.from('\x01hi'));
    const last = shell.lastWords({ exited: true, exitCode: 3, command: 'shell' })!;
    expect(last[0]).toBe(3);
    expect(JSON.parse(last.subarray(1).toString())).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ message: '3' }] } });
    expect(CLIENT_PROTOCOLS.WEB).toBeUndefined();
  });
});
