/**
 * A VNC session on a VM: one connection to QEMU's VNC server (the VM's VGA
 * display, on a unix socket in the VM's directory), relayed as it is. The
 * bytes are RFB (RFC 6143) both ways; the provider reads none of them, so
 * the viewer and QEMU agree on the version, security (None: the session's
 * credential at the gateway is the authentication) and encodings between
 * themselves. QEMU serves several viewers at once. No exit code: the session
 * ends when the viewer leaves or the VM ends.
 */
import type { Socket } from 'node:net';

import type { DriverSession } from '../sdk/index.js';

export function vncSession(socket: Socket): DriverSession {
  const exit = new Promise<{ exitCode: number | null }>((resolve) => socket.once('close', () => resolve({ exitCode: null })));
  socket.on('error', () => undefined);
  return {
    stream: socket,
    // The display's size is the guest's to choose (RFB's DesktopSize); a viewer scales it.
    resize: () => undefined,
    exit,
    close: () => socket.destroy(),
  };
}
