/**
 * Interactive sessions on a VM, end to end: `switchyard gateway` and `switchyard provider
 * cloud-vm` as processes over real NATS and Redis, a real QEMU (TCG) guest, a SHELL on the VM's
 * serial line (v5.channel.k8s.io), its display as VNC (RFB over a binary websocket) and a web
 * server in the guest (WEB, over a host forward of its isolated network), all through the
 * gateway's session URLs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from '../../test/support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from '../../test/support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from '../../test/support/processes.js';
import { connectRfb } from '../../test/support/rfb-client.js';
import { natsUrl, uniquePrefix } from '../../test/support/services.js';
import { expectAnswersAndResize, expectExitCode, openSession } from '../../test/support/sessions.js';
import { connectShell } from '../../test/support/shell-client.js';
import { guestImages, qemusUnder, ticksOf } from '../../test/support/vm-setup.js';
import { WebClient } from '../../test/support/web-client.js';
import { waitForWebApp, webPrefix } from '../../test/support/web-sessions.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;
/** The job writes a file, then counts on its console: the shell must see the one, and leave the other alone. */
const JOB = ['sh', '-c', 'echo made-by-the-job > /root/proof.txt; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done'];
const VM_TIMEOUT = 120_000;

let client: TestClient;
let gateway: Proc;
let provider: Proc;
let stateDir: string;
let gatewayPort: number;

beforeAll(async () => {
  const images = guestImages();
  stateDir = await mkdtemp(join(tmpdir(), 'sy-vm-sessions-'));
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  gatewayPort = port;
  gateway = startSwitchyard(
    ['gateway'],
    gatewayProcessEnv({ prefix, adminToken, port }, { SWITCHYARD_SESSION_SECRET: randomBytes(32).toString('base64url') }),
  );
  provider = startSwitchyard(['provider', 'cloud-vm', '--id', 'vm'], {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_VM_IMAGE_DIR: images.dir,
    SWITCHYARD_VM_STATE_DIR: stateDir,
    SWITCHYARD_VM_MAX_VMS: '1',
    SWITCHYARD_VM_GRACE_MS: '500',
    SWITCHYARD_OUTBOX_DIR: join(stateDir, 'outbox'),
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  // Minutes, not seconds, when the shared machine is busy.
  await waitReady(baseUrl, gateway, 60_000);
  client = createClient(baseUrl, adminToken);
  await waitProviderUp(client, 'vm', provider);
  await fund(client, 'admin', 'vm');
}, 90_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  for (const pid of stateDir ? await qemusUnder(stateDir) : []) process.kill(pid, 'SIGKILL');
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('sessions on a VM through the gateway', () => {
  it(
    'open a shell on the serial line inside the guest, beside its console log, and its display as VNC',
    async () => {
      const products = await client.ok(`{ products(provider: "vm") { id support { terminal vnc web sessionTypes } } }`);
      for (const product of products.products) {
        expect(product.support).toEqual({ terminal: true, vnc: true, web: true, sessionTypes: ['SHELL', 'WEB', 'VNC'] });
      }

      const created = await client.ok(CREATE, {
        specs: [{ product: { id: 'vm-tiny', provider: 'vm' }, timeAllocation: { minutes: 30 }, command: JOB }],
      });
      expect(created.createJobs[0].error).toBeNull();
      const id = created.createJobs[0].job.id as string;
      let shellOpen = false;
      let shellDone = false;
      /** Console lines that came while a shell was open. */
      let ticksWhileOpen = 0;
      const hasTick = (event: { logs: { stdout: string | null }[] }) => event.logs.some((l) => /^tick \d+$/.test(l.stdout ?? ''));
      const followed = client.follow(id, {
        timeoutMs: VM_TIMEOUT,
        until: (event) => {
          if (shellOpen && !shellDone && hasTick(event)) ticksWhileOpen++;
          // Ticks go on coming after the shell is done too: its console was never taken.
          return shellDone && hasTick(event);
        },
      });
      await waitForState(client, id, ['RUNNING'], 90_000);

      // WEB needs the port of the guest's app.
      const web = await openSession(client, { jobId: id, rank: 0, sessionType: 'WEB' });
      expect(web.error?.code).toBe('INVALID_INPUT');

      const { session, error } = await openSession(client, { jobId: id, rank: 0, sessionType: 'SHELL' });
      expect(error).toBeNull();
      const shell = await connectShell(session!.url);
      shellOpen = true;
      await expectAnswersAndResize(shell, 60_000);
      // Inside the guest: its hostname (the VM's name, not this host's) and the file the job wrote there.
      shell.type('echo "host:$(hostname) file:$(cat /root/proof.txt)"\n');
      // Not the echo of what was typed: that has `$(` where the answer has words.
      const inside = await shell.waitFor(/host:([\w.-]+) file:([\w.-]+)/, 30_000);
      expect(inside[1]).toBe(`vm-${id}`);
      expect(inside[1]).not.toBe(hostname());
      expect(inside[2]).toBe('made-by-the-job');
      // The guest's markers never reach the terminal.
      expect(shell.stdout()).not.toMatch(/SWITCHYARD-/);
      // The job's console goes on while the shell is open.
      await eventually(async () => ticksWhileOpen >= 2, { timeoutMs: 30_000, what: 'console lines while the shell is open' });
      await expectExitCode(shell, 3, { client, id, user: 'admin' });
      shellDone = true;

      // The line is free again: a second shell opens, and closing its socket hangs it up.
      const again = await connectShell((await openSession(client, { jobId: id, rank: 0, sessionType: 'SHELL' })).session!.url);
      again.type('echo "second:$((2+3))"\n');
      await again.waitFor(/second:5/, 30_000);
      again.socket.close();
      await again.waitClosed();

      const lines = (await followed).flatMap((e) => e.logs.map((l: { stdout: string | null }) => l.stdout ?? ''));
      const ticks = ticksOf(lines);
      expect(ticks.length).toBeGreaterThan(2);
      expect(ticks).toEqual(ticks.map((_, i) => i + 1));
      // What was typed in the shell, and its answers, are not the job's output.
      expect(lines.join('\n')).not.toMatch(/answer:42|host:|second:/);

      // The display: the RFB handshake through the gateway reaches QEMU's VNC server, and a framebuffer has pixels.
      const vnc = await openSession(client, { jobId: id, rank: 0, sessionType: 'VNC' });
      expect(vnc.error).toBeNull();
      expect(vnc.session).toMatchObject({ sessionType: 'VNC', password: null });
      expect(vnc.session!.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/api\/v1\/sessions\/vnc\?token=/);
      const viewer = await connectRfb(vnc.session!.url);
      expect(viewer.socket.protocol).toBe('binary');
      const init = await viewer.handshake();
      expect(init).toMatchObject({ version: 'RFB 003.008\n', securityTypes: [1], bitsPerPixel: 32, name: `QEMU (vm-${id})` });
      expect(init.width).toBeGreaterThan(0);
      expect(init.height).toBeGreaterThan(0);
      const pixels = await viewer.framebuffer(init.width, init.height);
      expect(pixels.length).toBe(init.width * init.height * 4);
      // The text console (a shell's prompt on tty1) is drawn: not every pixel is black.
      expect(pixels.some((byte) => byte !== 0)).toBe(true);
      viewer.close();

      // A shell credential opens no VNC session.
      const shellUrl = new URL((await openSession(client, { jobId: id, rank: 0, sessionType: 'SHELL' })).session!.url);
      shellUrl.pathname = '/api/v1/sessions/vnc';
      await expect(connectRfb(shellUrl.toString())).rejects.toThrow(/upgrade refused: 400/);

      await client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [id] });
      await waitForState(client, id, ['SUCCESS'], 30_000);
      await eventually(async () => (await qemusUnder(stateDir)).length === 0, { what: 'the VM to be gone' });
    },
    VM_TIMEOUT + 60_000,
  );
  it(
    'serves a web server in the guest through a forward of its isolated network: a page, a redirect and a cookie; the guest reaches nothing outside',
    async () => {
      const APP_PORT = 8080;
      // busybox httpd: a page, a directory's redirect, a CGI's redirect with a cookie; and whether the
      // guest could reach the host's gateway (restrict=on says it cannot).
      const cgi = 'printf "Status: 302 Found\\r\\nLocation: /docs/?from=cgi\\r\\nSet-Cookie: vm_visit=yes; Path=/\\r\\n\\r\\n"';
      const script = [
        'mkdir -p /www/docs /www/cgi-bin',
        'echo "page from $(hostname)" > /www/index.html',
        'echo docs > /www/docs/index.html',
        `printf '#!/bin/sh\\n%s\\n' '${cgi}' > /www/cgi-bin/go`,
        'chmod +x /www/cgi-bin/go',
        `httpd -p ${APP_PORT} -h /www`,
        `if wget -q -T 3 -O /dev/null http://10.0.2.2:${gatewayPort}/readyz; then echo reached; else echo blocked; fi > /www/outbound.txt`,
        'sleep 600',
      ].join('; ');
      const created = await client.ok(CREATE, {
        specs: [{ product: { id: 'vm-tiny', provider: 'vm' }, timeAllocation: { minutes: 30 }, command: ['sh', '-c', script] }],
      });
      expect(created.createJobs[0].error).toBeNull();
      const id = created.createJobs[0].job.id as string;
      await waitForState(client, id, ['RUNNING'], 90_000);

      const { session, error } = await openSession(client, { jobId: id, rank: 0, sessionType: 'WEB', port: APP_PORT });
      expect(error).toBeNull();
      await waitForWebApp(session!.url, 60_000);
      const prefix = webPrefix(id, 0, APP_PORT);
      const at = (path: string) => new URL(`${prefix}${path}`, session!.url).toString();
      const browser = new WebClient();
      const first = await browser.visit(session!.url);
      expect([first.status, first.redirects, first.body]).toEqual([200, [[303, prefix]], `page from vm-${id}\n`]);
      // httpd's own redirect of a directory, and a CGI's with its cookie, both land under the prefix.
      const docs = await browser.visit(at('docs'));
      expect([docs.redirects, docs.body]).toEqual([[[302, `${prefix}docs/`]], 'docs\n']);
      const landed = await browser.visit(at('cgi-bin/go'));
      expect([landed.redirects, landed.body]).toEqual([[[302, `${prefix}docs/?from=cgi`]], 'docs\n']);
      expect(browser.cookies.get('vm_visit')).toMatchObject({ value: 'yes', path: prefix });

      const outbound = await eventually(
        async () => {
          const page = await browser.visit(at('outbound.txt'));
          return page.status === 200 && page.body;
        },
        { timeoutMs: 30_000, what: 'the guest to try the host' },
      );
      expect(outbound).toBe('blocked\n');

      // Nothing listens on another port of the guest: the exchange fails with 502.
      const closed = await openSession(client, { jobId: id, rank: 0, sessionType: 'WEB', port: APP_PORT + 1 });
      const refused = await new WebClient().visit(closed.session!.url);
      expect(refused.status).toBe(502);

      await client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [id] });
      await waitForState(client, id, ['SUCCESS'], 30_000);
      await eventually(async () => (await qemusUnder(stateDir)).length === 0, { what: 'the VM to be gone' });
    },
    VM_TIMEOUT + 60_000,
  );
});
