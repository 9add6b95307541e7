/**
 * The cloud-VM provider behind the gateway, as separate processes over real
 * NATS and Redis, with real QEMU (TCG) and the guest images the e2e setup
 * builds: an instance type picked through the gateway, its console on
 * followJob, the stitched fields, suspend, resume and stop, charged for
 * running time only; a VM suspended when its owner's credits run out and
 * resumed after a top-up; and the provider process SIGKILLed while its VM runs.
 * A price minute of 100 ms, so that seconds of running are many minutes
 * (10 credits a minute: 100 credits a second), charged every 100 ms.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from '../../test/support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from '../../test/support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitReady, type Proc } from '../../test/support/processes.js';
import { natsUrl, uniquePrefix } from '../../test/support/services.js';
import { createUserClient } from '../../test/support/users.js';
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const creditsCharged = async (id: string) =>
  (await client.ok(`query ($id: ID!) { job(id: $id) { creditsCharged } }`, { id })).job.creditsCharged as number;
const jobVerb = (as: TestClient, mutation: string, id: string) =>
  as.ok(`mutation ($ids: [ID!]!) { ${mutation}(ids: $ids) { ok error { code message } } }`, { ids: [id] });

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

async function createOne(spec: Record<string, unknown>, as: TestClient = client) {
  const data = await as.ok(CREATE, { specs: [{ product: { id: 'vm-tiny', provider: 'vm' }, timeAllocation: { minutes: 30 }, ...spec }] });
  return data.createJobs[0] as { job: any; error: { code: string; message: string } | null };
}

describe('a VM through the gateway', () => {
  it(
    'is picked by instance type, its console followed, suspended to disk, resumed where it stopped, stopped, and charged for running time only',
    async () => {
      const host = await client.ok(`{ provider(id: "vm") { cloudVmHost { accel maxVms images { id disk } } } }`);
      expect(host.provider.cloudVmHost).toEqual({
        accel: 'tcg',
        maxVms: 1,
        images: [
          { id: 'busybox', disk: false },
          { id: 'busybox-disk', disk: true },
        ],
      });
      const created = await createOne({ command: TICKS });
      expect(created.error).toBeNull();
      const id = created.job.id as string;
      const followed = client.follow(id, { timeoutMs: VM_TIMEOUT, until: (event) => event.newStatus?.state === 'SUCCESS' });
      const running = await waitForState(client, id, ['RUNNING'], 90_000);
      expect(running.providerGeneratedId).toBe(`vm-${id}`);
      const details = async () =>
        (
          await client.ok(
            `query ($id: ID!) { job(id: $id) { cloudVm { instanceType image qemuStatus guest { vcpus memoryBytes } consoleLogBytes diskBytes } } }`,
            { id },
          )
        ).job.cloudVm;
      expect(await details()).toMatchObject({
        instanceType: 'vm-tiny',
        image: 'busybox',
        qemuStatus: 'running',
        guest: { vcpus: 1, memoryBytes: 256 * 1024 ** 2 },
        diskBytes: null,
      });

      const ok = (mutation: string) => jobVerb(client, mutation, id);
      expect((await ok('suspendJobs')).suspendJobs[0]).toEqual({ ok: true, error: null });
      await waitForState(client, id, ['SUSPENDED'], 30_000);
      expect(await qemus()).toEqual([]);
      expect((await details()).qemuStatus).toBe('saved');
      // Suspended, it costs nothing: the charge stands still.
      const settled = async () =>
        eventually(
          async () => {
            const before = await creditsCharged(id);
            await sleep(800);
            return before === (await creditsCharged(id)) ? before : null;
          },
          { timeoutMs: 20_000, what: 'the charges to settle' },
        );
      const whileSuspended = await settled();
      expect(whileSuspended).toBeGreaterThan(0);
      await sleep(1_000);
      expect(await creditsCharged(id)).toBe(whileSuspended);

      expect((await ok('unsuspendJobs')).unsuspendJobs[0]).toEqual({ ok: true, error: null });
      await waitForState(client, id, ['RUNNING'], 30_000);
      await sleep(2_000);
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
    'is suspended when its owner runs out of credits, costs nothing while suspended, and after a top-up resumes where it stopped',
    async () => {
      // 300 credits: 3 s of running. The charge that finds the wallet dry suspends the VM.
      const alice = await createUserClient(client, 'vm-alice');
      const grant = (amount: number) =>
        client.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, {
          g: { owner: 'vm-alice', provider: 'vm', category: 'vm-tiny', amount },
        });
      const balance = async () =>
        (await alice.ok(`{ wallets { provider balance } }`)).wallets.find((w: any) => w.provider === 'vm').balance as number;
      const charges = async () =>
        (await alice.ok(`{ transactions(first: 500) { edges { node { kind amount } } } }`)).transactions.edges.filter(
          (e: any) => e.node.kind === 'CHARGE',
        ).length as number;
      await grant(300);
      const created = await createOne({ command: TICKS }, alice);
      expect(created.error).toBeNull();
      const id = created.job.id as string;
      const untilSuspended = alice.follow(id, { timeoutMs: VM_TIMEOUT, until: (event) => event.newStatus?.state === 'SUSPENDED' });
      const followed = alice.follow(id, { timeoutMs: VM_TIMEOUT + 30_000, until: (event) => event.newStatus?.state === 'SUCCESS' });
      await waitForState(client, id, ['RUNNING'], 90_000);

      const suspended = await waitForState(client, id, ['SUSPENDED'], 30_000);
      const statuses = suspended.updates.map((u: any) => u.status);
      // Said once, however many charging rounds found the wallet dry while the VM was being saved.
      expect(statuses.filter((s: string) => s === 'No more credits: suspending the virtual machine (its disk is kept)')).toHaveLength(1);
      expect(await qemus()).toEqual([]);
      expect((await stat(join(stateDir, 'vms', id, 'state.bin'))).size).toBeGreaterThan(1024 ** 2);
      // The wallet paid all it had, and nothing more.
      expect(await balance()).toBe(0);
      expect(await creditsCharged(id)).toBe(300);
      const ticksBefore = ticksOf((await untilSuspended).flatMap((e) => e.logs.map((l: any) => l.stdout ?? '')));
      expect(ticksBefore.length).toBeGreaterThan(0);

      // Out of credits, it cannot be resumed; nothing changes.
      expect((await jobVerb(alice, 'unsuspendJobs', id)).unsuspendJobs[0]).toMatchObject({ ok: false, error: { code: 'INSUFFICIENT_FUNDS' } });
      await sleep(500);
      expect((await waitForState(client, id, ['SUSPENDED'])).state.state).toBe('SUSPENDED');
      expect(await qemus()).toEqual([]);

      // Topped up while suspended: ten charging rounds later nothing has been taken.
      await sleep(500);
      await grant(100_000);
      const chargesWhileSuspended = await charges();
      await sleep(1_000);
      expect(await balance()).toBe(100_000);
      expect(await creditsCharged(id)).toBe(300);
      expect(await charges()).toBe(chargesWhileSuspended);

      expect((await jobVerb(alice, 'unsuspendJobs', id)).unsuspendJobs[0]).toEqual({ ok: true, error: null });
      await waitForState(client, id, ['RUNNING'], 30_000);
      await sleep(2_500);
      expect((await jobVerb(alice, 'terminateJobs', id)).terminateJobs[0]).toEqual({ ok: true, error: null });
      await waitForState(client, id, ['SUCCESS'], 30_000);
      expect(await qemus()).toEqual([]);

      // The guest counted on: one boot, every tick once, past where it was suspended.
      const ticks = ticksOf((await followed).flatMap((e) => e.logs.map((l: any) => l.stdout ?? '')));
      expect(ticks).toEqual(ticks.map((_, i) => i + 1));
      expect(ticks.length).toBeGreaterThan(ticksBefore.at(-1)! + 1);
      // Charged again for the running after the resume, from the topped-up wallet.
      const spent = await eventually(
        async () => {
          const [left, charged] = [await balance(), await creditsCharged(id)];
          return charged > 300 && charged - 300 === 100_000 - left ? charged - 300 : null;
        },
        { timeoutMs: 10_000, what: 'the charge after the resume to equal the fall in the balance' },
      );
      expect(spent).toBeGreaterThan(0);
    },
    VM_TIMEOUT + 60_000,
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
