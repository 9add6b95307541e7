/**
 * The web dashboard (/ui) in headless Chromium (Debian's, through playwright-core), used as a
 * person would, against an embedded Switchyard: the gateway with the real local provider (jobs
 * in their sandbox) and a simulated HPC provider that alice has no credits for. Screenshots of
 * the main pages are kept under test-artifacts/dashboard/ (gitignored). The build it serves is
 * made by the global setup (test/support/dashboard-setup.ts). Every page photographed is also
 * checked with axe-core against WCAG 2 A and AA (labels, names, contrast, landmarks).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createLocalDriver } from '../providers/local/local-driver.js';
import { SIMULATED_CONFIGS } from '../providers/simulated/configs.js';
import { createSimulatedDriver } from '../providers/simulated/simulated-driver.js';
import { systemClock } from '../shared/clock.js';
import { launchChromium, watchPage, type PageProblems } from './support/browser.js';
import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import { eventually, type TestClient } from './support/graphql-client.js';

/** axe-core, evaluated in the page through the DevTools protocol (the page's CSP admits no injected script). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** What axe found on the dashboard's pages: rule, impact and where. */
const accessibilityFindings: string[] = [];
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts', 'dashboard');
/** The embedded gateway's users' passwords (test/support/embedded-gateway.ts). */
const PASSWORD = 'pw-alice-secret';

let sy: EmbeddedGateway;
let alice: TestClient;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: PageProblems;
const stateDir = mkdtempSync(join(tmpdir(), 'sy-dashboard-'));

beforeAll(async () => {
  // Only this run's pictures (a failed step's among them).
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  [sy, browser] = await Promise.all([
    startEmbeddedGateway({
      providers: [
        { id: 'local', kind: 'LOCAL', driver: createLocalDriver({ stateDir, terminateGraceMs: 300 }) },
        { id: 'sim-hpc', kind: 'SIMULATED', driver: createSimulatedDriver(SIMULATED_CONFIGS.hpc, { clock: systemClock }) },
      ],
    }),
    launchChromium(),
  ]);
  alice = await sy.user('alice', { fund: ['local'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
  problems = watchPage(page, sy.url);
}, 60_000);

// A failed step leaves a picture of the page it failed on.
afterEach(async ({ task }) => {
  if (task.result?.state === 'fail') await shot(`failed-${task.name.replace(/\W+/g, '-').slice(0, 60)}`, page, { axe: false }).catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await sy?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function checkAccessibility(name: string, target: Page): Promise<void> {
  await target.evaluate(AXE_SOURCE);
  const violations = await target.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: any[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n: { target: string[] }) => n.target.join(' ')).join(', ')}`);
  });
  accessibilityFindings.push(...violations.map((v) => `${name}: ${v}`));
}

/** A screenshot kept as an artefact; the dashboard's own pages are checked for accessibility at the same moment. */
async function shot(name: string, target: Page = page, { axe = true } = {}): Promise<void> {
  await target.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  if (axe) await checkAccessibility(name, target);
}
const jobState = () => page.getByTestId('job-state').locator('[data-state]');
const waitForJobState = (state: string, timeout = 20_000) => page.locator(`[data-testid="job-state"] [data-state="${state}"]`).waitFor({ timeout });

/** Fills the submit form for a local-small job and submits it; resolves on the job's page with its id. */
async function submitLocalJob(command: string): Promise<string> {
  await page.getByRole('link', { name: 'Submit', exact: true }).click();
  await page.getByLabel('Product').selectOption('local/local-small');
  await page.getByLabel('Command', { exact: true }).fill(command);
  await page.getByRole('button', { name: 'Submit', exact: true }).click();
  await page.waitForURL(/\/ui\/jobs\/[^/]+$/);
  return decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1)!);
}

describe('the web dashboard', () => {
  it('is served at /ui: the SPA for any route, hashed assets cached for good, a missing asset a 404', async () => {
    const redirect = await fetch(`${sy.url}/ui`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/ui/');
    const deep = await fetch(`${sy.url}/ui/jobs/some-job`);
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(deep.headers.get('cache-control')).toBe('no-cache');
    expect(deep.headers.get('content-security-policy')).toMatch(/script-src 'self'; style-src 'self'; connect-src 'self'/);
    const html = await deep.text();
    const script = html.match(/src="(\/ui\/assets\/[^"]+\.js)"/)![1]!;
    const asset = await fetch(`${sy.url}${script}`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${sy.url}/ui/assets/index-gone.js`)).status).toBe(404);
  });

  it('refuses a wrong password, then signs alice in', async () => {
    await page.goto(`${sy.url}/ui/`);
    await page.waitForURL(/\/ui\/sign-in$/);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('not-her-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/UNAUTHENTICATED.*wrong user name or password/);
    await shot('sign-in');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    await expect(page.getByTestId('username').textContent()).resolves.toBe('alice');
    expect(await page.evaluate(() => sessionStorage.getItem('switchyard.session'))).toMatch(/"token":/);
  });

  it('submits a job from the form and shows it reach SUCCESS with its log and its charge', async () => {
    const id = await submitLocalJob(`sh -c 'echo "hello from the dashboard"; echo to-stderr >&2'`);
    await waitForJobState('SUCCESS');
    await page.getByTestId('logs').getByText('hello from the dashboard').waitFor();
    await page.getByTestId('logs').getByText('to-stderr').waitFor();
    await expect(page.getByTestId('story').textContent()).resolves.toMatch(/IN QUEUE.*RUNNING.*SUCCESS/s);
    const job = await alice.ok(`query ($id: ID!) { job(id: $id) { status { state exitCode } } }`, { id });
    expect(job.job.status).toEqual({ state: 'SUCCESS', exitCode: 0 });
    await shot('job-success');
  });

  it('shows a refused submission’s error code and message', async () => {
    await page.getByRole('link', { name: 'Submit', exact: true }).click();
    // The simulated HPC cluster's products are offered; alice has no credits there.
    const hpcProduct = await page.locator('select[name="product"] optgroup[label="sim-hpc"] option').first().getAttribute('value');
    await page.getByLabel('Product').selectOption(hpcProduct!);
    await page.getByLabel('Command', { exact: true }).fill('hostname');
    const image = page.getByLabel(/^Image/);
    if (await image.isVisible()) await image.fill('docker.io/library/busybox:1.36');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    await expect(alert.locator('.error-code').textContent()).resolves.toBe('INSUFFICIENT_FUNDS');
    await expect(alert.locator('.error-message').textContent()).resolves.not.toBe('');
    expect(page.url()).toMatch(/\/ui\/submit$/);
    await shot('submit-refused');
  });

  it('submits a job by requirements for the gateway to route, and shows the product it was given', async () => {
    await page.getByRole('link', { name: 'Submit', exact: true }).click();
    await page.getByLabel('Product').selectOption('routed');
    await page.getByLabel('CPUs').fill('1');
    await page.getByLabel('Backend').selectOption('NATIVE');
    await page.getByLabel(/^Wait for room/).fill('60');
    await page.getByLabel('Command', { exact: true }).fill(`sh -c 'echo routed-here'`);
    await shot('submit-routed');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(/\/ui\/jobs\/[^/]+$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1)!);
    await waitForJobState('SUCCESS');
    await page.getByTestId('logs').getByText('routed-here').waitFor();
    const { job } = await alice.ok(`query ($id: ID!) { job(id: $id) { specification { product { id provider } scheduleTimeout } } }`, { id });
    // Asked for by requirements; alice has credits on the local provider only, so it was routed there.
    expect(job.specification).toMatchObject({ product: { id: expect.stringMatching(/^local-/), provider: 'local' }, scheduleTimeout: 60 });
  });

  it('opens a running job’s terminal, runs a command in it, and suspends and resumes the job', async () => {
    const id = await submitLocalJob('sleep 300');
    await waitForJobState('RUNNING');
    // The local provider's stitched details, as the API gives them: its host and the rank's pid.
    const { job: stitched } = await alice.ok(`query ($id: ID!) { job(id: $id) { local { host pids } } }`, { id });
    expect(stitched.local.pids).toHaveLength(1);
    const details = page.getByTestId('provider-details');
    await eventually(async () => ((await details.locator('[data-detail="pids"]').textContent()) === String(stitched.local.pids[0]) ? true : null), {
      what: 'the running rank’s pid among the provider’s details',
      timeoutMs: 10_000,
    });
    await expect(details.locator('[data-detail="host"]').textContent()).resolves.toBe(stitched.local.host);
    await shot('job-running');

    const [terminal] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Open terminal' }).click()]);
    const terminalProblems = watchPage(terminal, sy.url);
    await terminal.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
    expect(new URL(terminal.url()).pathname).toBe('/api/v1/sessions/shell');
    await terminal.locator('.xterm').click();
    await terminal.keyboard.type('echo "answer:$((6*7))"');
    await terminal.keyboard.press('Enter');
    await eventually(async () => (await terminal.locator('.xterm-rows').textContent())?.replace(/\u00a0/g, ' ').includes('answer:42') || null, {
      what: 'the shell’s answer in the terminal page',
      timeoutMs: 15_000,
    });
    // The terminal page is the gateway's session page, not the dashboard's.
    await shot('terminal', terminal, { axe: false });
    expect(terminalProblems.violations).toEqual([]);
    await terminal.close();

    await page.getByRole('button', { name: 'Suspend' }).click();
    await waitForJobState('SUSPENDED');
    await page.getByRole('button', { name: 'Resume' }).click();
    await waitForJobState('RUNNING');
    const story = await page.getByTestId('story').textContent();
    expect(story).toMatch(/RUNNING.*SUSPENDED.*RUNNING/s);

    await page.getByRole('button', { name: 'Terminate' }).click();
    await eventually(async () => ((await jobState().getAttribute('data-state')) === 'RUNNING' ? null : true), { what: 'the job to stop running' });
    const job = await alice.ok(`query ($id: ID!) { job(id: $id) { updates { state } } }`, { id });
    expect(job.job.updates.map((u: { state: string | null }) => u.state)).toContain('SUSPENDED');
  });

  it('lists the jobs with their live state, filtered by state', async () => {
    // Two jobs that run until terminated through the API, not the page: the list sees one end live.
    const create = (name: string) =>
      alice
        .ok(
          `mutation ($name: String!) { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["sleep", "300"], name: $name }]) { job { id } } }`,
          {
            name,
          },
        )
        .then((data) => data.createJobs[0].job.id as string);
    const [watched, running] = [await create('watched'), await create('still running')];
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const row = (id: string) => page.locator(`tr[data-job-id="${id}"]`);
    await row(watched).locator('[data-state="RUNNING"]').waitFor({ timeout: 20_000 });
    await row(running).locator('[data-state="RUNNING"]').waitFor({ timeout: 20_000 });
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: watched });
    // The list reads itself again only every 30 s: an end shown sooner came over the subscription.
    await row(watched).locator('[data-state="SUCCESS"]').waitFor({ timeout: 10_000 });
    await shot('jobs');

    await page.getByLabel('State').selectOption('RUNNING');
    await page.waitForURL(/state=RUNNING/);
    await page.getByRole('status').getByText('1 job', { exact: true }).waitFor();
    await expect(page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job-id')))).resolves.toEqual([running]);
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: running });
    await page.getByLabel('State').selectOption('');
  });

  it('pages through the jobs, twenty at a time', async () => {
    const specs = Array.from({ length: 21 }, (_, i) => ({
      product: { id: 'local-small', provider: 'local' },
      command: ['true'],
      name: `batch-${i}`,
    }));
    const created = await alice.ok(`mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { error { code } } }`, {
      specs,
    });
    expect(created.createJobs.filter((r: { error: unknown }) => r.error)).toEqual([]);
    const { jobs } = await alice.ok(`{ jobs(first: 100) { totalCount edges { node { id } } } }`);
    const newestFirst: string[] = jobs.edges.map((e: { node: { id: string } }) => e.node.id);
    const shownIds = () => page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job-id')));
    const showing = (ids: string[], what: string) =>
      eventually(async () => (JSON.stringify(await shownIds()) === JSON.stringify(ids) ? true : null), { what, timeoutMs: 10_000 });

    // A reload: the list as it is now, not as the last visit left it.
    await page.goto(`${sy.url}/ui/jobs`);
    await showing(newestFirst.slice(0, 20), 'the newest twenty jobs');
    await page.getByRole('status').getByText(`${jobs.totalCount} jobs`, { exact: true }).waitFor({ timeout: 10_000 });
    const pager = page.getByRole('navigation', { name: 'Pages of jobs' });
    await expect(pager.getByRole('button', { name: 'Previous' }).isDisabled()).resolves.toBe(true);
    await pager.getByRole('button', { name: 'Next' }).click();
    await showing(newestFirst.slice(20), 'the rest on the second page');
    await expect(pager.getByRole('button', { name: 'Next' }).isDisabled()).resolves.toBe(true);
    await pager.getByRole('button', { name: 'Previous' }).click();
    await showing(newestFirst.slice(0, 20), 'the first page again');
  });

  it('shows the providers with status and utilization, and the wallets with their transactions', async () => {
    await page.getByRole('link', { name: 'Providers' }).click();
    const local = page.locator('[data-provider-id="local"]');
    await local.getByText('UP', { exact: true }).waitFor();
    await local.locator('meter').first().waitFor();
    await page.locator('[data-provider-id="sim-hpc"]').waitFor();
    await shot('providers');

    await page.getByRole('link', { name: 'Wallets' }).click();
    await page.getByRole('heading', { name: /local-cpu/ }).waitFor();
    // Newest first, 25 a page: the grant that came before all those charges is on the second page.
    await page.getByRole('cell', { name: 'Charge' }).first().waitFor();
    await shot('wallets');
    await page.getByRole('navigation', { name: 'Pages of transactions' }).getByRole('button', { name: 'Next' }).click();
    await page.getByRole('cell', { name: 'Grant', exact: true }).waitFor();
  });

  it('lets an administrator create a user, grant it credits and disable it; others see no administration', async () => {
    await expect(page.getByRole('link', { name: 'Administration' }).count()).resolves.toBe(0);
    await sy.user('root', { admin: true, fund: [] });
    const admin = await context.browser()!.newContext({ viewport: { width: 1280, height: 860 } });
    const adminPage = await admin.newPage();
    const adminProblems = watchPage(adminPage, sy.url);
    await adminPage.goto(`${sy.url}/ui/admin`);
    await adminPage.getByLabel('User name').fill('root');
    await adminPage.getByLabel('Password').fill('pw-root-secret');
    await adminPage.getByRole('button', { name: 'Sign in' }).click();
    // Back where it was going once signed in.
    await adminPage.getByRole('heading', { name: 'Administration' }).waitFor();

    const newUser = adminPage.locator('form[aria-labelledby="new-user-heading"]');
    await newUser.getByLabel('User name').fill('carol');
    await newUser.getByLabel('Password').fill('carol-secret-1');
    await newUser.getByRole('button', { name: 'Create user' }).click();
    await adminPage.getByText('User carol created.').waitFor();
    const grant = adminPage.locator('form[aria-labelledby="grant-heading"]');
    await grant.getByLabel(/^To/).fill('carol');
    await grant.getByLabel('Wallet').selectOption('local/local-cpu');
    await grant.getByLabel('Credits').fill('5000');
    await grant.getByRole('button', { name: 'Grant' }).click();
    await adminPage.getByText(/Granted 5,000 credits to carol \(local-cpu at local\); balance 5,000\./).waitFor();
    await adminPage.getByRole('button', { name: 'Disable carol' }).click();
    await adminPage.getByRole('button', { name: 'Enable carol' }).waitFor();
    await shot('admin', adminPage);

    const { users } = await sy.admin.ok(`{ users { username disabled } }`);
    expect(users.find((u: { username: string }) => u.username === 'carol')).toEqual({ username: 'carol', disabled: true });
    const { wallets } = await sy.admin.ok(`{ transactions(owner: "carol") { edges { node { kind amount by } } } }`).then((data) => ({
      wallets: data.transactions.edges.map((e: { node: unknown }) => e.node),
    }));
    expect(wallets).toEqual([{ kind: 'GRANT', amount: 5000, by: 'root' }]);
    expect(adminProblems).toEqual({ errors: [], violations: [], foreignRequests: [] });
    await admin.close();

    await page.getByRole('link', { name: 'Projects' }).click();
    await page.getByText('You are in no project').waitFor();
  });

  it('shares a project job of alice’s with bob from its page, and removes the entry again', async () => {
    const bob = await sy.user('bob', { fund: [] });
    await sy.admin.ok(`mutation { createProject(id: "lab", title: "Lab", pi: "alice") { id } }`);
    await alice.ok(`mutation { addProjectMember(project: "lab", username: "bob") { id } }`);
    await sy.admin.ok(
      `mutation { grantCredits(grant: { owner: "lab", isProject: true, provider: "local", category: "local-cpu", amount: 100000000 }) { balance } }`,
    );
    const created = await alice
      .in('lab')
      .ok(
        `mutation { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["sleep", "300"], name: "shared" }]) { job { id } } }`,
      );
    const id = created.createJobs[0].job.id as string;
    const bobSees = async () => (await bob.in('lab').ok(`query ($id: ID!) { jobs(filter: { ids: [$id] }) { totalCount } }`, { id })).jobs.totalCount;
    expect(await bobSees()).toBe(0);

    await page.goto(`${sy.url}/ui/jobs/${encodeURIComponent(id)}`);
    const sharing = page.locator('section[aria-labelledby="sharing-heading"]');
    await sharing.getByText('Shared with nobody else.').waitFor();
    await sharing.getByLabel('User or project/group').fill('bob');
    await sharing.getByLabel('Permission').selectOption('EDIT');
    await sharing.getByRole('button', { name: 'Share' }).click();
    await sharing.getByText('Shared with bob (EDIT).').waitFor();
    await expect(sharing.locator('[data-entity="bob"]').textContent()).resolves.toMatch(/^bob: EDIT/);
    await shot('job-sharing');
    const { job } = await alice.ok(`query ($id: ID!) { job(id: $id) { acl { entity permissions } } }`, { id });
    expect(job.acl).toEqual([{ entity: 'bob', permissions: ['EDIT'] }]);
    expect(await bobSees()).toBe(1);

    // Someone outside the project is refused, with the contract's code, and the ACL stays as it was.
    await sharing.getByLabel('User or project/group').fill('carol');
    await sharing.getByRole('button', { name: 'Share' }).click();
    await expect(sharing.getByRole('alert').locator('.error-code').textContent()).resolves.toBe('INVALID_INPUT');

    await sharing.getByRole('button', { name: 'Remove bob' }).click();
    await sharing.getByText('Shared with nobody else.').waitFor();
    expect(await bobSees()).toBe(0);
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
  });

  it("acts in a project's workspace once it is picked: its jobs listed, not alice's own, and back", async () => {
    const inLab = (await alice.in('lab').ok(`{ jobs(first: 50) { edges { node { id } } } }`)).jobs.edges.map((e: any) => e.node.id as string);
    const own = (await alice.ok(`{ jobs(first: 50) { edges { node { id } } } }`)).jobs.edges.map((e: any) => e.node.id as string);
    expect(inLab.length).toBeGreaterThan(0);
    expect(own.length).toBeGreaterThan(0);
    const listed = async () => page.locator('tr[data-job-id]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-job-id')));

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator(`tr[data-job-id="${own[0]}"]`).waitFor();
    await page.getByLabel('Workspace').selectOption('lab');
    await page.locator(`tr[data-job-id="${inLab[0]}"]`).waitFor();
    expect((await listed()).sort()).toEqual([...inLab].sort());
    expect(await page.evaluate(() => sessionStorage.getItem('switchyard.workspace'))).toBe('lab');
    await shot('jobs-in-project');

    // Back in her own workspace: her own jobs, those she made in projects among them, newest first.
    await page.getByLabel('Workspace').selectOption('');
    await page.locator(`tr[data-job-id="${own[0]}"]`).waitFor();
    expect(await listed()).toEqual(own.slice(0, 20));
    expect(await page.evaluate(() => sessionStorage.getItem('switchyard.workspace'))).toBeNull();
    // Where the next step expects the page.
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
  });

  it('stays signed in across a reload (sessionStorage) and starts the keyboard at a skip link to the content', async () => {
    // On the page the last step left it: still signed in, still there.
    await page.reload();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await expect(page.getByTestId('username').textContent()).resolves.toBe('alice');
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    await page.keyboard.press('Enter');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('main');
  });

  it('works on a narrow screen and did nothing the policy forbids', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator('tbody tr').first().waitFor();
    // Nothing wider than the screen but the table's own scrolling box.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('jobs-narrow');
    expect(problems.violations).toEqual([]);
    expect(problems.errors).toEqual([]);
    expect(problems.foreignRequests).toEqual([]);
  });

  it('passed axe-core’s WCAG 2 A and AA checks on every page photographed', () => {
    expect(accessibilityFindings).toEqual([]);
  });
});
