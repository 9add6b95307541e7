/**
 * How a WEB session reaches a port in the guest: a host forward on the VM's
 * user network (qemu-command.ts), added through QMP the first time a port is
 * asked for. QEMU 7.2 forwards from TCP only (not from a unix socket), so the
 * forward listens on the host's loopback, on a port the kernel picks
 * (`tcp:127.0.0.1:0`), which `info usernet` then tells. The forwards belong
 * to the QEMU process: a resumed VM (a new QEMU) has none until asked again.
 */
import { GUEST_NETDEV } from './qemu-command.js';
import type { QmpClient } from './qmp-client.js';

/** The guest's address on its user network (QEMU's default for the first guest). */
export const GUEST_ADDRESS = '10.0.2.15';

/** The host port of the forward to `guestPort` in `info usernet`'s table; null when there is none. */
export function hostForwardOf(usernet: string, guestPort: number): number | null {
  for (const line of usernet.split(/\r?\n/)) {
    // TCP[HOST_FORWARD]  13       127.0.0.1 41517       10.0.2.15  8080     0     0
    const match = /^\s*TCP\[HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)\s+(\S+)\s+(\d+)\s/.exec(line);
    if (match && match[2] === GUEST_ADDRESS && Number(match[3]) === guestPort) return Number(match[1]);
  }
  return null;
}

const monitor = (qmp: QmpClient, command: string) => qmp.execute<string>('human-monitor-command', { 'command-line': command });

/** The forwards of one QEMU: each guest port's host port on 127.0.0.1, added once. */
export function guestPorts(qmp: QmpClient): { forward(guestPort: number): Promise<number> } {
  const forwards = new Map<number, Promise<number>>();
  const add = async (guestPort: number): Promise<number> => {
    // A provider that restarted finds the forwards its predecessor added.
    const existing = hostForwardOf(await monitor(qmp, 'info usernet'), guestPort);
    if (existing !== null) return existing;
    // The monitor answers errors as text, not as QMP errors.
    const answer = await monitor(qmp, `hostfwd_add ${GUEST_NETDEV} tcp:127.0.0.1:0-:${guestPort}`);
    if (answer.trim()) throw new Error(`QEMU did not forward the port (a VM started before WEB sessions has no network): ${answer.trim()}`);
    const added = hostForwardOf(await monitor(qmp, 'info usernet'), guestPort);
    if (added === null) throw new Error(`QEMU did not list the forward to port ${guestPort} it added`);
    return added;
  };
  return {
    forward(guestPort) {
      let forward = forwards.get(guestPort);
      if (!forward) {
        forward = add(guestPort);
        forwards.set(guestPort, forward);
        // One that failed is tried again by the next session.
        forward.catch(() => forwards.delete(guestPort));
      }
      return forward;
    },
  };
}
