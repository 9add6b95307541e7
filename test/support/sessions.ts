/** Interactive sessions in tests: opening one through the API, the gateway's session metrics, what a shell leaves in a job. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { SignJWT } from 'jose';
import { expect } from 'vitest';

import { eventually, JOB_FIELDS, waitForState, type TestClient } from './graphql-client.js';
import { connectShell, type ShellClient } from './shell-client.js';

const OPEN = `mutation ($items: [OpenSessionInput!]!) {
  openInteractiveSessions(items: $items) { session { jobId rank sessionType providerId url password expiresAt } error { code message } }
}`;

export interface SessionAnswer {
  session: { jobId: string; rank: number; sessionType: string; providerId: string; url: string; password: string | null; expiresAt: string } | null;
  error: { code: string; message: string } | null;
}

/** openInteractiveSessions for one item. */
export async function openSession(
  client: TestClient,
  item: { jobId: string; rank?: number; sessionType: string; port?: number; keepPathPrefix?: boolean },
): Promise<SessionAnswer> {
  const data = await client.ok(OPEN, { items: [item] });
  return data.openInteractiveSessions[0] as SessionAnswer;
}

/** A job on a local provider's small product, RUNNING. */
export async function runningLocalJob(client: TestClient, providerId: string, spec: Record<string, unknown>): Promise<string> {
  const data = await client.ok(
    `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`,
    { specs: [{ product: { id: 'local-small', provider: providerId }, allowDuplicateJob: true, ...spec }] },
  );
  expect(data.createJobs[0].error).toBeNull();
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING']);
  return id;
}

/** A SHELL session on rank 0 of a job, connected. */
export async function shellOn(client: TestClient, jobId: string): Promise<ShellClient> {
  const { session, error } = await openSession(client, { jobId, rank: 0, sessionType: 'SHELL' });
  expect(error).toBeNull();
  return connectShell(session!.url);
}

/** The value of one series of a gateway's metrics (`name{labels}` as Prometheus prints it), 0 when absent. */
export async function gatewayMetric(baseUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** What every SHELL backend must do: arithmetic answered by the shell, and a resize that `stty size` sees. */
export async function expectAnswersAndResize(shell: ShellClient, timeoutMs = 30_000): Promise<void> {
  // The marker is quoted apart from the expression, so the echo of what was typed cannot match.
  shell.type('echo "answer:$((6*7))"\n');
  await shell.waitFor(/answer:42/, timeoutMs);
  shell.resize(123, 45);
  shell.type('echo "size:$(stty size)"\n');
  await shell.waitFor(/size:45 123/, timeoutMs);
}

/** `exit <code>`: the status channel carries the code as the API server sends it, the socket closes normally, and the job's story tells of it. */
export async function expectExitCode(shell: ShellClient, code: number, job: { client: TestClient; id: string; user: string }): Promise<void> {
  shell.type(`exit ${code}\n`);
  expect((await shell.waitClosed(30_000)).code).toBe(1000);
  expect(shell.status()).toMatchObject({
    status: 'Failure',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
  const ended = new RegExp(`session on rank 0 \\(${job.user}\\) ended: .*exited with code ${code}`);
  await eventually(
    async () => {
      const data = await job.client.ok(`query ($id: ID!) { job(id: $id) { status { state } updates { status } } }`, { id: job.id });
      return data.job.status.state === 'RUNNING' && data.job.updates.some((u: { status: string | null }) => ended.test(u.status ?? ''));
    },
    { what: `job ${job.id} to run on and tell of the session's end` },
  );
}

/** A shell that answers, then its provider killed: the socket closes with 1011 and says so, on the status channel too. */
export async function expectClosedWhenProviderKilled(shell: ShellClient, kill: () => Promise<void>): Promise<void> {
  shell.type('echo "alive:$((2*3))"\n');
  await shell.waitFor(/alive:6/, 30_000);
  await kill();
  const closed = await shell.waitClosed();
  expect(closed.code).toBe(1011);
  expect(closed.reason).toMatch(/provider stopped answering/);
  expect(shell.status()).toMatchObject({ status: 'Failure', message: expect.stringMatching(/provider stopped answering/) });
}

/** Processes in the PID namespace of a local job's rank 0 now: its sandbox's init, the job, and any shell in it. */
export async function processesInRank(client: TestClient, jobId: string): Promise<number> {
  const data = await client.ok(`query ($id: ID!) { job(id: $id) { local { pids } } }`, { id: jobId });
  const outer = data.job.local.pids[0] as number;
  const init = readFileSync(`/proc/${outer}/task/${outer}/children`, 'utf8').trim().split(/\s+/)[0];
  const namespace = readlinkSync(`/proc/${init}/ns/pid`);
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/pid`) === namespace;
      } catch {
        return false;
      }
    }).length;
}

/** A session credential signed as the gateway signs one, with these claims; `expiresAt` in epoch seconds. */
function signClaims(secret: string, username: string, claims: Record<string, unknown>, expiresAt: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('switchyard-gateway')
    .setAudience('switchyard-session')
    .setSubject(username)
    .setJti(`test-${expiresAt}`)
    .setIssuedAt(expiresAt - 120)
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(secret));
}

/**
 * A session credential made as the gateway makes one, signed with its secret: for grants the API
 * does not give (one whose time is over, a type the product lacks). `expiresAt` in epoch seconds.
 */
export function signSessionCredential(
  secret: string,
  grant: { jobId: string; rank?: number; type: string; providerId: string; username: string; expiresAt: number },
): Promise<string> {
  return signClaims(
    secret,
    grant.username,
    { job: grant.jobId, rank: grant.rank ?? 0, type: grant.type, provider: grant.providerId },
    grant.expiresAt,
  );
}

/** A session credential signed with the gateway's secret whose time ended a minute ago. */
export function expiredCredential(secret: string, username: string, claims: Record<string, unknown>): Promise<string> {
  return signClaims(secret, username, claims, Math.floor(Date.now() / 1000) - 60);
}
