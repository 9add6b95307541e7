/**
 * The sessions' browser pages in headless Chromium (Debian's, through playwright-core):
 * `switchyard gateway` and `switchyard provider local` as processes over real NATS and Redis, a
 * real job in its sandbox, and the terminal page typed into as a person would; and `switchyard provider
 * cloud-vm` with a real QEMU guest whose display the VNC page shows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium, watchPage, type PageProblems } from './support/browser.js';
import { fund } from './support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';
import { openSession, signSessionCredential } from './support/sessions.js';
import { createUserClient } from './support/users.js';
import { guestImages, qemusUnder } from './support/vm-setup.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;
const SESSION_SECRET = randomBytes(32).toString('base64url');

let gateway: Proc;
let provider: Proc;
let alice: TestClient;
let baseUrl: string;
let stateDir: string;
let browser: Browser;
let prefix: string;
let adminToken: string;

beforeAll(async () => {
  prefix = uniquePrefix();
  adminToken = randomBytes(24).toString('base64url');
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

/** How many colours a PNG shows (decoded by the browser, in a blank page of its own): a blank one has one. */
async function coloursIn(png: Buffer): Promise<number> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async (base64) => {
      const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext('2d')!;
      context.drawImage(bitmap, 0, 0);
      const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
      const seen = new Set<number>();
      for (let i = 0; i < data.length; i += 4) seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
      return seen.size;
    }, png.toString('base64'));
  } finally {
    await page.close();
  }
}

describe('the VNC page of a VM', () => {
  let vmProvider: Proc;
  let vmStateDir: string;
  let admin: TestClient;

  beforeAll(async () => {
    const images = guestImages();
    vmStateDir = mkdtempSync(join(tmpdir(), 'sy-e2e-pages-vm-'));
    vmProvider = startSwitchyard(['provider', 'cloud-vm', '--id', 'vm'], {
      NATS_URL: natsUrl(),
      SWITCHYARD_PREFIX: prefix,
      SWITCHYARD_HEARTBEAT_MS: '500',
      SWITCHYARD_VM_IMAGE_DIR: images.dir,
      SWITCHYARD_VM_STATE_DIR: vmStateDir,
      SWITCHYARD_VM_MAX_VMS: '1',
      SWITCHYARD_VM_GRACE_MS: '500',
      SWITCHYARD_OUTBOX_DIR: join(vmStateDir, 'outbox'),
    });
    admin = createClient(baseUrl, adminToken);
    await waitProviderUp(admin, 'vm', vmProvider);
    await fund(admin, 'admin', 'vm');
  }, 60_000);

  afterAll(async () => {
    await vmProvider?.kill('SIGTERM');
    for (const pid of vmStateDir ? await qemusUnder(vmStateDir) : []) process.kill(pid, 'SIGKILL');
    if (vmStateDir) rmSync(vmStateDir, { recursive: true, force: true });
  });

  it('shows the VM’s display with noVNC loaded from the gateway', async () => {
    const created = await admin.ok(CREATE, {
      specs: [{ product: { id: 'vm-tiny', provider: 'vm' }, timeAllocation: { minutes: 30 }, command: ['sleep', '600'] }],
    });
    expect(created.createJobs[0].error).toBeNull();
    const jobId = created.createJobs[0].job.id as string;
    await waitForState(admin, jobId, ['RUNNING'], 90_000);
    const { session, error } = await openSession(admin, { jobId, rank: 0, sessionType: 'VNC' });
    expect(error).toBeNull();

    const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    const problems = watchPage(page, baseUrl);
    const response = await page.goto(pageUrlOf(session!.url));
    expect(response!.status()).toBe(200);
    // The title as served: noVNC may have renamed the live page already, once it connected.
    expect(await response!.text()).toContain(`<title>Display on rank 0 of job ${jobId} (admin) · Switchyard</title>`);
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
    // noVNC names the page after the desktop: the VM's name.
    const named = await eventually(async () => ((await page.title()).startsWith('Display on') ? null : page.title()), {
      what: 'the desktop’s name as the title',
    });
    expect(named).toBe(`QEMU (vm-${jobId}) · Switchyard`);
    // The guest's text console, drawn on noVNC's canvas: a screenshot of it is not one colour all over.
    const canvas = page.locator('#screen canvas');
    await eventually(async () => (await coloursIn(await canvas.screenshot())) > 1, {
      timeoutMs: 30_000,
      what: 'the VM’s display on the page',
    });
    expectNoProblems(problems);

    await admin.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
    await page.locator('#status[data-state="ended"]').waitFor({ timeout: 30_000 });
    await expect(page.locator('#status').textContent()).resolves.toBe('The session ended.');
    await page.close();
    await eventually(async () => (await qemusUnder(vmStateDir)).length === 0, { what: 'the VM to be gone' });
  }, 180_000);
});
