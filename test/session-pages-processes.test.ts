/**
 * The sessions' browser pages in headless Chromium (Debian's, through playwright-core):
 * `switchyard gateway` and `switchyard provider local` as processes over real NATS and Redis, a
 * real job in its sandbox, and the terminal page typed into as a person would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';

import { launchChromium, watchPage, type PageProblems } from './support/browser.js';
import { fund } from './support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';
import { openSession, signSessionCredential } from './support/sessions.js';
import { createUserClient } from './support/users.js';
import { guestImages } from './support/vm-setup.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;
const SESSION_SECRET = randomBytes(32).toString('base64url');

let gateway: Proc;
let provider: Proc;
let alice: TestClient;
let baseUrl: string;
let stateDir: string;
let browser: Browser;

beforeAll(async () => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  stateDir = mkdtempSync(join(tmpdir(), 'sy-e2e-pages-'));
  gateway = startSwitchyard(['gateway'], gatewayProcessEnv({ prefix, adminToken, port }, { SWITCHYARD_SESSION_SECRET: SESSION_SECRET }));
  provider = startSwitchyard(['provider', 'local', '--id', 'edge'], {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_LOCAL_STATE_DIR: stateDir,
    SWITCHYARD_TERMINATE_GRACE_MS: '500',
  });
  const admin = createClient(baseUrl, adminToken);
  [browser] = await Promise.all([launchChromium(), waitReady(baseUrl, gateway, 60_000)]);
  await waitProviderUp(admin, 'edge', provider);
  alice = await createUserClient(admin, 'alice');
  await fund(admin, 'alice', 'edge');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  rmSync(stateDir, { recursive: true, force: true });
});

async function runningJob(): Promise<string> {
  const data = await alice.ok(CREATE, {
    specs: [{ product: { id: 'local-small', provider: 'edge' }, allowDuplicateJob: true, command: ['sleep', '300'] }],
  });
  expect(data.createJobs[0].error).toBeNull();
  const id = data.createJobs[0].job.id as string;
  await waitForState(alice, id, ['RUNNING']);
  return id;
}

/** A credential of alice's for rank 0 of a job, made here, that expires `seconds` from now (in the past when negative). */
const aliceCredential = (jobId: string, type: string, seconds: number) =>
  signSessionCredential(SESSION_SECRET, { jobId, type, providerId: 'edge', username: 'alice', expiresAt: Math.floor(Date.now() / 1000) + seconds });

const terminate = (id: string) => alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });

/** A session's URL as a browser opens it: its http form. */
const pageUrlOf = (sessionUrl: string) => sessionUrl.replace(/^ws/, 'http');

/** The terminal's rows as the page shows them (xterm.js's DOM renderer), one line each. */
const screenLines = (page: Page) =>
  page.locator('.xterm-rows').evaluate((rows) => [...rows.children].map((row) => (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()));

async function waitForLine(page: Page, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  return eventually(async () => (await screenLines(page)).map((line) => line.match(pattern)).findLast(Boolean) ?? null, {
    timeoutMs: 15_000,
    what: `${what}; the terminal shows: ${(await screenLines(page).catch(() => [])).join('\n')}`,
  });
}

async function typeLine(page: Page, text: string): Promise<void> {
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** The size the page shows in its header, as `stty size` prints it (rows, then columns). */
async function shownSize(page: Page): Promise<string> {
  const [cols, rows] = (await page.locator('#size').textContent())!.split('×');
  return `${rows} ${cols}`;
}

function expectNoProblems(problems: PageProblems): void {
  expect(problems.violations).toEqual([]);
  expect(problems.errors).toEqual([]);
  expect(problems.foreignRequests).toEqual([]);
}

describe('the terminal page of a SHELL session', () => {
  it('runs a shell typed into in the browser, follows the window’s size, and shows the exit code', async () => {
    const jobId = await runningJob();
    const { session, error } = await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL' });
    expect(error).toBeNull();
    const page = await browser.newPage({ viewport: { width: 900, height: 500 } });
    const problems = watchPage(page, baseUrl);
    const response = await page.goto(pageUrlOf(session!.url));
    expect(response!.status()).toBe(200);
    expect(response!.headers()['content-security-policy']).toMatch(/default-src 'none'; script-src 'self';/);
    expect(response!.headers()['referrer-policy']).toBe('no-referrer');
    await expect(page.title()).resolves.toBe(`Shell on rank 0 of job ${jobId} (alice) · Switchyard`);
    await page.locator('#status[data-state="open"]').waitFor();

    await page.locator('.xterm').click();
    await typeLine(page, 'echo $((6*7))');
    await waitForLine(page, /^42$/, 'the answer 42 on a line of its own');

    const before = await shownSize(page);
    await typeLine(page, 'echo "size:$(stty size)"');
    expect((await waitForLine(page, /^size:(\d+ \d+)$/, 'the shell’s size'))[1]).toBe(before);
    await page.setViewportSize({ width: 1300, height: 760 });
    await eventually(async () => (await shownSize(page)) !== before, { what: 'the terminal to take the new window size' });
    const after = await shownSize(page);
    await typeLine(page, 'echo "resized:$(stty size)"');
    expect((await waitForLine(page, /^resized:(\d+ \d+)$/, 'the shell’s new size'))[1]).toBe(after);

    await typeLine(page, 'exit 3');
    const status = page.locator('#status[data-state="ended"]');
    await status.waitFor();
    await expect(status.getAttribute('data-exit-code')).resolves.toBe('3');
    await expect(status.textContent()).resolves.toBe('The shell exited with code 3.');
    expectNoProblems(problems);
    await page.close();
    await terminate(jobId);
  });

  it('shows the refusal of an expired credential and connects nowhere; a session refused after the page loaded says so', async () => {
    const jobId = await runningJob();
    const expired = await aliceCredential(jobId, 'SHELL', -60);
    const page = await browser.newPage();
    const problems = watchPage(page, baseUrl);
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    const response = await page.goto(`${baseUrl}/api/v1/sessions/shell?token=${expired}`);
    expect(response!.status()).toBe(401);
    const status = page.locator('#status');
    await expect(status.getAttribute('data-state')).resolves.toBe('refused');
    await expect(status.textContent()).resolves.toBe('The session was refused: The session credential has expired');
    expect(sockets).toEqual([]);
    expectNoProblems(problems);

    // The credential of a job that ended after the page was served: the page cannot connect, and says so.
    const { session } = await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL' });
    await page.route('**/api/v1/sessions/pages/terminal.js', async (route) => {
      await terminate(jobId);
      await waitForState(alice, jobId, ['SUCCESS']);
      await route.continue();
    });
    await page.goto(pageUrlOf(session!.url));
    await page.locator('#status[data-state="refused"]').waitFor();
    await expect(page.locator('#status').textContent()).resolves.toMatch(/^Could not connect: the gateway refused the session/);
    await page.close();
  });
});

/** QEMU with its VGA display served as RFB on a loopback port, booting the guest kernel: a real VNC server. */
async function qemuDisplay(): Promise<{ port: number; qemu: ChildProcess }> {
  const images = guestImages();
  const port = await freePort();
  // A display number is the port less 5900; freePort answers ports above that.
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-nodefaults',
      '-no-user-config',
      '-m',
      '128',
      '-vga',
      'std',
      '-display',
      'none',
      '-vnc',
      `127.0.0.1:${port - 5900}`,
      '-kernel',
      images.kernel,
      '-initrd',
      images.initrd,
      '-append',
      'console=tty0',
    ],
    { stdio: 'ignore' },
  );
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const probe = connect(port, '127.0.0.1', () => resolve(probe.destroy() !== null)).on('error', () => resolve(false));
      }),
    { what: `QEMU's VNC server on ${port}` },
  );
  return { port, qemu };
}

/** How many colours the canvas shows: a blank one has one. */
const coloursOn = (canvas: Locator) =>
  canvas.evaluate((element: HTMLCanvasElement) => {
    const { data } = element.getContext('2d')!.getImageData(0, 0, element.width, element.height);
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4) seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
    return seen.size;
  });

/**
 * Stands in for the gateway's VNC endpoint, which this branch does not have (vm-sessions builds it): an origin
 * of its own that passes every request on to the gateway (the page, its files, the credential's check) and
 * carries its websockets, as the endpoint would, byte for byte to an RFB server.
 */
async function vncEndpointStandIn(
  gatewayUrl: string,
  rfbPort: number,
): Promise<{ origin: string; bridged: () => number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    void fetch(`${gatewayUrl}${req.url}`).then(async (answer) => {
      const headers = Object.fromEntries([...answer.headers].filter(([name]) => !['transfer-encoding', 'connection', 'keep-alive'].includes(name)));
      res.writeHead(answer.status, headers).end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  let bridged = 0;
  const sockets = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false) });
  sockets.on('connection', (socket) => {
    bridged += 1;
    const rfb = connect(rfbPort, '127.0.0.1');
    rfb.on('data', (bytes) => socket.send(bytes));
    rfb.on('close', () => socket.close());
    socket.on('message', (bytes: Buffer) => rfb.write(bytes));
    socket.on('close', () => rfb.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bridged: () => bridged,
    close: () => new Promise((resolve) => sockets.close(() => server.close(() => resolve()))),
  };
}

describe('the VNC page', () => {
  // This branch has no VNC sessions yet (branch vm-sessions builds them): the credential is made here, for a local
  // job, and the gateway refuses the upgrade (it has no VNC endpoint); through a stand-in for that endpoint, bridged
  // to QEMU's own VNC server, noVNC on the page shows the display.
  it('loads noVNC from the gateway, says when it cannot connect, and shows a real display through the websocket', async () => {
    const jobId = await runningJob();
    const token = await aliceCredential(jobId, 'VNC', 600);
    const url = `${baseUrl}/api/v1/sessions/vnc?token=${token}`;
    const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    const problems = watchPage(page, baseUrl);
    const response = await page.goto(url);
    expect(response!.status()).toBe(200);
    await expect(page.title()).resolves.toBe(`Display on rank 0 of job ${jobId} (alice) · Switchyard`);
    await page.locator('#status[data-state="refused"]').waitFor();
    // noVNC logs the refused connection as an error of its own; nothing else went wrong.
    expect(problems.errors.every((e) => /^Failed when connecting: Connection closed/.test(e))).toBe(true);
    problems.errors.length = 0;
    expectNoProblems(problems);

    const { port, qemu } = await qemuDisplay();
    const stand = await vncEndpointStandIn(baseUrl, port);
    try {
      const viaStandIn = watchPage(page, stand.origin);
      await page.goto(`${stand.origin}/api/v1/sessions/vnc?token=${token}`);
      await page.locator('#status[data-state="open"]').waitFor({ timeout: 20_000 });
      expect(stand.bridged()).toBe(1);
      const canvas = page.locator('#screen canvas');
      // The kernel's console on the VGA display: the canvas is not one colour all over.
      await eventually(async () => (await coloursOn(canvas)) > 1, { timeoutMs: 30_000, what: 'the display to show something on the canvas' });
      expectNoProblems(viaStandIn);
    } finally {
      qemu.kill('SIGKILL');
      await page.close();
      await stand.close();
    }
    await terminate(jobId);
  }, 60_000);
});
