/** The embedded default (`switchyard dev`): one process, no services, the same end-to-end flow. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, startSwitchyard, waitReady, type Proc } from './support/processes.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

let dev: Proc;
let client: TestClient;
let baseUrl: string;

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const token = randomBytes(24).toString('base64url');
  // No NATS_URL or REDIS_URL: the embedded default needs no services.
  dev = startSwitchyard(['dev', '--port', String(port)], { SWITCHYARD_ADMIN_TOKEN: token });
  await waitReady(baseUrl, dev);
  client = createClient(baseUrl, token);
}, 60_000);

afterAll(async () => {
  await dev?.kill('SIGTERM');
});

describe('switchyard dev', () => {
  it('prints where it serves', () => {
    expect(dev.output()).toContain(`${baseUrl}/graphql`);
  });

  it('runs a job end to end: logs, followJob, suspend, resume, extend, terminate', async () => {
    const user = 'devuser';
    await client.ok(`mutation { createUser(username: "${user}", password: "dev-password") { username } }`);
    const tokenRes = await fetch(`${baseUrl}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: user, password: 'dev-password' }) });
    const alice = createClient(baseUrl, ((await tokenRes.json()) as { token: string }).token);
    await fund(client, user, 'local');

    const echo = await alice.ok(CREATE, {
      specs: [{ product: { id: 'local-small', provider: 'local' }, command: ['sh', '-c', 'sleep 0.3; echo embedded hello'] }],
    });
    const echoId = echo.createJobs[0].job.id;
    const events = await alice.follow(echoId);
    expect(events.flatMap((e) => e.logs.map((l: any) => l.stdout))).toContain('embedded hello');
    expect((await waitForState(alice, echoId, ['SUCCESS'])).state.exitCode).toBe(0);

    const long = await alice.ok(CREATE, {
      specs: [{ product: { id: 'local-large', provider: 'local' }, command: ['sleep', '60'], timeAllocation: { minutes: 5 } }],
    });
    const id = long.createJobs[0].job.id;
    await waitForState(alice, id, ['RUNNING']);
    await alice.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok } }`, { id });
    await waitForState(alice, id, ['SUSPENDED']);
    await alice.ok(`mutation ($id: ID!) { unsuspendJobs(ids: [$id]) { ok } }`, { id });
    await waitForState(alice, id, ['RUNNING']);
    const ext = await alice.ok(`mutation ($id: ID!) { extendJobs(items: [{ jobId: $id, requestedTime: { minutes: 5 } }]) { ok } }`, { id });
    expect(ext.extendJobs[0].ok).toBe(true);
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
    const ended = await waitForState(alice, id, ['SUCCESS', 'FAILURE']);
    expect(ended.state.state).toBe('SUCCESS');
    expect(ended.updates.map((u: any) => u.state).filter(Boolean)).toEqual(['IN_QUEUE', 'RUNNING', 'SUSPENDED', 'RUNNING', 'CANCELING', 'SUCCESS']);
  });
});
