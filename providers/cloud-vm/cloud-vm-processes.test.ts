/**
 * The cloud-VM provider behind the gateway, as separate processes over real
 * NATS and Redis, with real QEMU (TCG) and the guest images the e2e setup
 * builds: an instance type picked through the gateway, its console on
 * followJob, the stitched fields, suspend, resume and stop, charged for
 * running time only; and the provider process SIGKILLed while its VM runs.
 * A price minute of 100 ms, so that seconds of running are many minutes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from '../../test/support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from '../../test/support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitReady, type Proc } from '../../test/support/processes.js';
import { natsUrl, uniquePrefix } from '../../test/support/services.js';
import { guestImages, qemusUnder, TICKS, ticksOf } from '../../test/support/vm-setup.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) {
  createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } }
}`;
const INSTANCE_TYPES = [{ id: 'vm-tiny', vcpus: 1, memoryMiB: 256, pricePerUnit: 10, unitOfPrice: 'CREDITS_PER_MINUTE' }];
const VM_TIMEOUT = 120_000;

let client: TestClient;
let stateDir: string;
let gateway: Proc;
let provider: Proc;
let providerEnv: Record<string, string>;

const startProvider = () => startSwitchyard(['provider', 'cloud-vm', '--id', 'vm'], providerEnv);

const qemus = () => qemusUnder(stateDir);

beforeAll(async () => {
  const images = guestImages();
  stateDir = await mkdtemp(join(tmpdir(), 'sy-vm-e2e-'));
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  gateway = startSwitchyard(
    ['gateway'],
    gatewayProcessEnv(
      { prefix, adminToken, port },
      { SWITCHYARD_CHARGE_INTERVAL_MS: '100', SWITCHYARD_CHARGE_LAG_MS: '300', SWITCHYARD_PRICE_MINUTE_MS: '100' },
    ),
  );
  providerEnv = {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_VM_IMAGE_DIR: images.dir,
    SWITCHYARD_VM_STATE_DIR: stateDir,
    SWITCHYARD_VM_INSTANCE_TYPES: JSON.stringify(INSTANCE_TYPES),
    SWITCHYARD_VM_MAX_VMS: '1',
    SWITCHYARD_VM_GRACE_MS: '500',
    SWITCHYARD_OUTBOX_DIR: join(stateDir, 'outbox'),
  };
  provider = startProvider();
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, gateway);
  client = createClient(baseUrl, adminToken);
  await eventually(async () => (await client.gql(`{ provider(id: "vm") { status cloudVmHost { maxVms } } }`)).data?.provider?.cloudVmHost, {
    timeoutMs: 30_000,
    what: `the cloud-VM provider to be UP and stitched; its output: ${provider.output().slice(-1500)}`,
  });
  await fund(client, 'admin', 'vm');
}, 90_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  for (const pid of stateDir ? await qemus() : []) process.kill(pid, 'SIGKILL');
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

async function createOne(spec: Record<string, unknown>) {
  const data = await client.ok(CREATE, { specs: [{ product: { id: 'vm-tiny', provider: 'vm' }, timeAllocation: { minutes: 30 }, ...spec }] });
  return data.createJobs[0] as { job: any; error: { code: string; message: string } | null };
}

describe('a VM through the gateway', () => {
  it(
    'is picked by instance type, its console followed, suspended to disk, resumed where it stopped, stopped, and charged for running time only',
    async () => {
      const host = await client.ok(`{ provider(id: "vm") { cloudVmHost { accel maxVms images { id } } } }`);
      expect(host.provider.cloudVmHost).toEqual({ accel: 'tcg', maxVms: 1, images: [{ id: 'busybox' }] });
      const created = await createOne({ command: TICKS });
      expect(created.error).toBeNull();
      const id = created.job.id as string;
      const followed = client.follow(id, { timeoutMs: VM_TIMEOUT, until: (event) => event.newStatus?.state === 'SUCCESS' });
      const running = await waitForState(client, id, ['RUNNING'], 90_000);
      expect(running.providerGeneratedId).toBe(`vm-${id}`);
      const details = async () =>
        (
          await client.ok(
            `query ($id: ID!) { job(id: $id) { cloudVm { instanceType image qemuStatus guest { vcpus memoryBytes } consoleLogBytes } } }`,
            { id },
          )
        ).job.cloudVm;
      expect(await details()).toMatchObject({
        instanceType: 'vm-tiny',
        image: 'busybox',
        qemuStatus: 'running',
        guest: { vcpus: 1, memoryBytes: 256 * 1024 ** 2 },
      });

      const creditsCharged = async () =>
        (await client.ok(`query ($id: ID!) { job(id: $id) { creditsCharged } }`, { id })).job.creditsCharged as number;
      const ok = (mutation: string) => client.ok(`mutation ($ids: [ID!]!) { ${mutation}(ids: $ids) { ok error { code message } } }`, { ids: [id] });
      expect((await ok('suspendJobs')).suspendJobs[0]).toEqual({ ok: true, error: null });
      await waitForState(client, id, ['SUSPENDED'], 30_000);
      expect(await qemus()).toEqual([]);
      expect((await details()).qemuStatus).toBe('saved');
      // Suspended, it costs nothing: the charge stands still.
      const settled = async () =>
        eventually(
          async () => {
            const before = await creditsCharged();
            await new Promise((r) => setTimeout(r, 800));
            return before === (await creditsCharged()) ? before : null;
          },
          { timeoutMs: 20_000, what: 'the charges to settle' },
        );
      const whileSuspended = await settled();
      expect(whileSuspended).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await creditsCharged()).toBe(whileSuspended);

      expect((await ok('unsuspendJobs')).unsuspendJobs[0]).toEqual({ ok: true, error: null });
      await waitForState(client, id, ['RUNNING'], 30_000);
      await new Promise((r) => setTimeout(r, 2_000));
      expect((await ok('terminateJobs')).terminateJobs[0]).toEqual({ ok: true, error: null });
      const done = await waitForState(client, id, ['SUCCESS'], 30_000);
      expect(done.updates.at(-1).status).toBe('Your job has been terminated');
      expect(await qemus()).toEqual([]);
      expect(await settled()).toBeGreaterThan(whileSuspended);

      const events = await followed;
      const ticks = ticksOf(events.flatMap((e) => e.logs.map((l: any) => l.stdout ?? '')));
      expect(ticks.length).toBeGreaterThan(2);
      // One boot: the counter never starts over.
      expect(ticks.filter((n: number) => n === 1)).toHaveLength(1);
    },
    VM_TIMEOUT + 30_000,
  );

  it(
    'goes on when its provider process is SIGKILLed and restarted while the VM runs, and leaves no QEMU behind',
    async () => {
      const created = await createOne({ command: ['sh', '-c', 'echo started; sleep 5; echo done; exit 4'] });
      expect(created.error).toBeNull();
      const id = created.job.id as string;
      await waitForState(client, id, ['RUNNING'], 90_000);
      const [pid] = await qemus();
      await provider.kill('SIGKILL');
      expect(await qemus()).toEqual([pid]);
      provider = startProvider();
      const done = await waitForState(client, id, ['SUCCESS'], 60_000);
      expect(done.state.exitCode).toBe(4);
      expect(await qemus()).toEqual([]);
    },
    VM_TIMEOUT,
  );
});
