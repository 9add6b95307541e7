/**
 * Interactive sessions through an in-process gateway (the in-process bus, the in-memory store) and
 * the local provider's real sandboxed jobs: how a session ends when the client leaves, breaks the
 * protocol, outlives its credential, or the gateway stops. End to end through processes, NATS and
 * Redis: sessions-processes.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import { eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { gatewayMetric, openSession, processesInRank, shellOn } from './support/sessions.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

let embedded: EmbeddedGateway | null = null;

afterEach(async () => {
  await embedded?.stop();
  embedded = null;
});

async function runningJob(client: TestClient): Promise<string> {
  const data = await client.ok(CREATE, {
    specs: [{ product: { id: 'local-small', provider: 'local' }, command: ['sleep', '60'], allowDuplicateJob: true }],
  });
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING']);
  return id;
}

describe('an interactive session through an in-process gateway', () => {
  it('hangs up the shell in the job when the client goes away, and records both ends of the session on the job', async () => {
    embedded = await startEmbeddedGateway();
    const alice = await embedded.user('alice');
    const jobId = await runningJob(alice);
    const before = await processesInRank(alice, jobId);
    const shell = await shellOn(alice, jobId);
    shell.type('echo "answer:$((6*7))"\n');
    await shell.waitFor(/answer:42/);
    expect(await processesInRank(alice, jobId)).toBeGreaterThan(before);
    expect(await gatewayMetric(embedded.url, 'switchyard_sessions_open', '{type="SHELL"}')).toBe(1);
    shell.socket.close();
    await eventually(async () => (await processesInRank(alice, jobId)) === before, { what: 'the shell to be gone from the job' });
    await eventually(async () => (await gatewayMetric(embedded!.url, 'switchyard_sessions_open', '{type="SHELL"}')) === 0);
    const job = await waitForState(alice, jobId, ['RUNNING']);
    const statuses = job.updates.map((u: { status: string | null }) => u.status);
    expect(statuses).toContain('Interactive SHELL session on rank 0 (alice) opened');
    expect(statuses).toContain('Interactive SHELL session on rank 0 (alice) ended: the client closed the session');
  });

  it('closes a session whose client breaks the protocol (1002), and every session when the gateway stops (1001)', async () => {
    embedded = await startEmbeddedGateway();
    const alice = await embedded.user('alice');
    const jobId = await runningJob(alice);
    const broken = await shellOn(alice, jobId);
    broken.socket.send('a text message');
    expect(await broken.waitClosed()).toEqual({ code: 1002, reason: 'v5.channel.k8s.io messages are binary' });

    const shell = await shellOn(alice, jobId);
    shell.type('echo "ready:$((1+1))"\n');
    await shell.waitFor(/ready:2/);
    const stopping = embedded.gateway.stop();
    const closed = await shell.waitClosed();
    expect(closed).toEqual({ code: 1001, reason: 'The gateway is stopping; open the session again' });
    expect(shell.status()).toMatchObject({ status: 'Failure', message: 'The gateway is stopping; open the session again' });
    await stopping;
    for (const runtime of embedded.runtimes) await runtime.stop();
    embedded = null;
  });

  it('ends a session when its credential expires (1008), in real time', async () => {
    embedded = await startEmbeddedGateway({ sessions: { ttlSeconds: 1 } });
    const alice = await embedded.user('alice');
    const jobId = await runningJob(alice);
    const { session } = await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL' });
    const socket = new WebSocket(session!.url, ['v5.channel.k8s.io']);
    const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
    expect(closed).toEqual({ code: 1008, reason: 'The session credential expired' });
    // And the URL opens nothing any more.
    await expect(
      new Promise((resolve, reject) => {
        const again = new WebSocket(session!.url, ['v5.channel.k8s.io']);
        again.once('open', resolve);
        again.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
      }),
    ).rejects.toMatchObject({ status: 401 });
  });
});
