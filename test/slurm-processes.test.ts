/**
 * The Slurm provider behind the gateway, as separate processes over real NATS
 * and Redis, on the real single-node cluster (.ci/run starts it with
 * deploy/slurm/slurm-up.sh and exports SLURM_CONF).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';

const SLURM_CONF = process.env.SLURM_CONF;
const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

let gateway: Proc;
let provider: Proc;
let client: TestClient;
let workDir: string;

beforeAll(async () => {
  if (!SLURM_CONF)
    throw new Error('SLURM_CONF is not set: start the cluster with `bash deploy/slurm/slurm-up.sh` and export SLURM_CONF from its slurm.env');
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  workDir = mkdtempSync(join(tmpdir(), 'sy-slurm-e2e-'));
  gateway = startSwitchyard(['gateway'], gatewayProcessEnv({ prefix, adminToken, port }));
  provider = startSwitchyard(['provider', 'slurm', '--id', 'hpc'], {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SLURM_CONF,
    SWITCHYARD_SLURM_WORK_DIR: workDir,
    SWITCHYARD_SLURM_POLL_MS: '300',
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, gateway);
  client = createClient(baseUrl, adminToken);
  await eventually(async () => (await client.gql(`{ jobs(first: 1) { edges { node { slurm { jobId } } } } }`)).errors === undefined, {
    timeoutMs: 30_000,
    what: `the Slurm provider's subschema to be stitched; provider output: ${provider.output().slice(-1500)}`,
  });
  await fund(client, 'admin', 'hpc');
}, 60_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  rmSync(workDir, { recursive: true, force: true });
});

async function submit(command: string[]) {
  const products = await client.ok(`{ products(provider: "hpc") { id } }`);
  const data = await client.ok(CREATE, {
    specs: [{ product: { id: products.products[0].id, provider: 'hpc' }, command, timeAllocation: { minutes: 5 } }],
  });
  expect(data.createJobs[0].error).toBeNull();
  return data.createJobs[0].job.id as string;
}

describe('a job through the gateway on real Slurm', () => {
  it('runs under Slurm, visible through the stitched field, its output on followJob, ending SUCCESS with its exit code', async () => {
    const id = await submit(['sh', '-c', 'echo hello from slurm; sleep 1']);
    const events = await client.follow(id, { timeoutMs: 60_000 });
    const done = await waitForState(client, id, ['SUCCESS', 'FAILURE'], 60_000);
    expect(done.state).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(events.flatMap((e) => e.logs.map((l: any) => l.stdout))).toContain('hello from slurm');
    const slurm = await client.ok(`query ($id: ID!) { job(id: $id) { providerGeneratedId slurm { jobId partition state exitCode nodeList } } }`, {
      id,
    });
    expect(slurm.job.slurm).toMatchObject({ jobId: expect.stringMatching(/^\d+$/), state: 'COMPLETED', exitCode: '0:0' });
    const partitions = await client.ok(`{ provider(id: "hpc") { slurmPartitions { name totalCpus } } }`);
    expect(partitions.provider.slurmPartitions.length).toBeGreaterThan(0);
  });

  it('ends a job exiting 3 as SUCCESS with exit code 3', async () => {
    const id = await submit(['sh', '-c', 'exit 3']);
    const done = await waitForState(client, id, ['SUCCESS', 'FAILURE'], 60_000);
    expect(done.state).toMatchObject({ state: 'SUCCESS', exitCode: 3 });
  });
});
