/**
 * The gateway against providers that misbehave. The two providers here are
 * deliberately broken stand-ins built directly on the transport (a fake, by
 * design): one answers jobs.create with garbage, one never answers it. Both
 * announce themselves and serve a valid manifest like a real provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LOCAL_PRODUCTS } from '../providers/local/local-driver.js';
import { PROTOCOL_VERSION } from '../shared/protocol.js';
import type { Closable } from '../shared/transport.js';
import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import { eventually, JOB_FIELDS, waitForState } from './support/graphql-client.js';

let env: EmbeddedGateway;
const servers: Closable[] = [];

/** Serves a manifest (valid unless given); every other call goes to `misbehave`. */
async function startBrokenProvider(id: string, misbehave: () => Promise<unknown>, products: readonly unknown[] = LOCAL_PRODUCTS) {
  const { transport } = env;
  servers.push(
    transport.serve(transport.subjects.providerAll(id), async (_body, subject) => {
      if (subject.endsWith('.manifest')) return { v: PROTOCOL_VERSION, ok: true, result: { products } };
      return misbehave();
    }),
  );
  const now = Date.now();
  await transport.putAnnouncement(id, {
    v: PROTOCOL_VERSION,
    id,
    kind: 'LOCAL',
    version: 'broken',
    instanceId: `${id}-1`,
    manifestDigest: 'x',
    startedAt: now,
    heartbeatAt: now,
    heartbeatIntervalMs: 60_000,
    domain: null,
  });
  await eventually(async () => env.gateway.registry.get(id), { what: `${id} to be known` });
  if (products === LOCAL_PRODUCTS) await eventually(async () => env.gateway.registry.get(id)?.manifest, { what: `${id} manifest` });
}

beforeAll(async () => {
  // Long enough for the real local provider's create on a loaded machine, short enough for the silent one to miss it.
  env = await startEmbeddedGateway({ providerTimeoutMs: 1_500 });
  await startBrokenProvider('garbage', async () => ({ hello: 'not the protocol' }));
  // Answers, but only long after the gateway's timeout.
  await startBrokenProvider('silent', () => new Promise((resolve) => setTimeout(resolve, 4_000, { too: 'late' })));
});

afterAll(async () => {
  for (const server of servers) await server.close();
  await env?.stop();
});

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

describe('a misbehaving provider is an error for its items, not a gateway crash', () => {
  it('answers garbage: PROVIDER_UNAVAILABLE naming the provider, the other items still run', async () => {
    const alice = await env.user('garbageuser', { fund: ['local', 'garbage'] });
    const data = await alice.ok(CREATE, {
      specs: [
        { product: { id: 'local-small', provider: 'garbage' }, command: ['true'] },
        { product: { id: 'local-small', provider: 'local' }, command: ['true'] },
      ],
    });
    expect(data.createJobs[0].error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(data.createJobs[0].error.message).toMatch(/^garbage: .*protocol/);
    expect(data.createJobs[1].error).toBeNull();
    await waitForState(alice, data.createJobs[1].job.id, ['SUCCESS']);
    // The refused job is kept, failed, with the reason: nothing accepted is lost.
    const jobs = await alice.ok(`{ jobs(filter: { providers: ["garbage"] }) { edges { node { status { state } updates { status } } } } }`);
    expect(jobs.jobs.edges).toHaveLength(1);
    expect(jobs.jobs.edges[0].node.status.state).toBe('FAILURE');
    expect(jobs.jobs.edges[0].node.updates.at(-1).status).toMatch(/garbage/);
  });

  it('never answers: PROVIDER_UNAVAILABLE saying it did not answer in time', async () => {
    const alice = await env.user('silentuser', { fund: ['silent'] });
    const data = await alice.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'silent' }, command: ['true'] }] });
    expect(data.createJobs[0].error).toEqual({ code: 'PROVIDER_UNAVAILABLE', message: 'silent: did not answer jobs.create within 1500 ms' });
    expect((await fetch(`${env.url}/healthz`)).status).toBe(200);
  });

  it('refuses a manifest with negative prices or resources, and keeps serving the rest', async () => {
    const negative = [
      { ...LOCAL_PRODUCTS[0], id: 'cheap-trick', pricePerUnit: -5 },
      { ...LOCAL_PRODUCTS[1], id: 'no-cpu', cpu: -1 },
    ];
    await startBrokenProvider('negative', async () => ({ v: PROTOCOL_VERSION, ok: true, result: {} }), negative);
    await new Promise((r) => setTimeout(r, 300));
    const data = await env.admin.ok(`{ products { id provider } provider(id: "negative") { products { id } } }`);
    expect(data.provider.products).toEqual([]);
    expect(data.products.some((p: any) => p.provider === 'negative')).toBe(false);
    expect(data.products.some((p: any) => p.provider === 'local')).toBe(true);
  });

  it('opens the circuit of a provider that keeps failing, and says so', async () => {
    const alice = await env.user('circuituser', { fund: ['garbage'] });
    for (let i = 0; i < 6; i++) {
      await alice.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'garbage' }, command: ['true'], name: `try ${i}` }] });
    }
    const data = await alice.ok(`{ provider(id: "garbage") { status circuit } }`);
    expect(data.provider).toEqual({ status: 'DEGRADED', circuit: 'OPEN' });
    const refused = await alice.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'garbage' }, command: ['true'] }] });
    expect(refused.createJobs[0].error.message).toMatch(/circuit is open/);
  });
});
