/**
 * The cloud-VM driver with real QEMU (TCG) and the guest images from
 * deploy/vm/build-images.sh, through the real provider runtime on the
 * in-process bus. Each test boots as few VMs as it can (one, mostly); boots
 * take seconds under TCG on a shared machine, so the timeouts are generous and
 * no test asserts how long anything took.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

import type { JobSpecification } from '../../shared/domain.js';
import { createDriverBus } from '../../test/support/driver-bus.js';
import { eventually } from '../../test/support/graphql-client.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import { guestImages, qemusUnder, TICKS, ticksOf } from '../../test/support/vm-setup.js';
import type { ProviderRuntime } from '../sdk/runtime.js';
import { createCloudVmDriver, type CloudVmDriverOptions } from './cloud-vm-driver.js';
import { vmPaths } from './qemu-command.js';
import { runningQemu } from './vm-supervisor.js';

const PROVIDER = 'vm';
const VM_TIMEOUT = 180_000;
const BOOT_MS = 90_000;

let runtimes: ProviderRuntime[] = [];
const stateDirs: string[] = [];

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.stop();
  for (const dir of stateDirs.splice(0)) {
    for (const pid of await qemusUnder(dir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

const waitFor = <T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = BOOT_MS) =>
  eventually(async () => probe(), { what, timeoutMs, intervalMs: 100 });

async function harness(overrides: Partial<CloudVmDriverOptions> = {}) {
  const images = guestImages();
  const stateDir = await mkdtemp(join(tmpdir(), 'sy-cloud-vm-'));
  stateDirs.push(stateDir);
  const bus = await createDriverBus(PROVIDER, { kind: 'CLOUD_VM', timeoutMs: 30_000 });
  const { call, eventsOf } = bus;
  const options: CloudVmDriverOptions = {
    stateDir,
    images: [
      { id: 'busybox', kernel: images.kernel, initrd: images.initrd },
      { id: 'busybox-disk', kernel: images.kernel, initrd: images.diskInitrd, disk: images.disk },
    ],
    instanceTypes: [
      { id: 'tiny', vcpus: 1, memoryMiB: 256, pricePerUnit: 10 },
      { id: 'huge', vcpus: 64, memoryMiB: 4 * 1024 * 1024, pricePerUnit: 1_000 },
    ],
    maxVms: 1,
    graceMs: 500,
    ...overrides,
  };
  const start = async (more: Partial<CloudVmDriverOptions> = {}) => {
    const driver = createCloudVmDriver({ ...options, ...more });
    const runtime = await bus.startRuntime(driver);
    runtimes.push(runtime);
    return { runtime, driver };
  };
  const first = await start();
  const product = (id = 'tiny') => bus.product(id);
  const create = async (spec: Partial<JobSpecification>, productId = 'tiny') => {
    const job = makeCreateJob(await product(productId), PROVIDER, spec);
    const reply = await call('jobs.create', { jobs: [job] });
    return { job, reply, result: reply.result.results[0] };
  };
  const created = async (spec: Partial<JobSpecification>, productId = 'tiny') => {
    const { job, result } = await create(spec, productId);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, providerGeneratedId: `vm-${job.id}` });
    return job.id as string;
  };
  const story = (jobId: string) => JSON.stringify(eventsOf(jobId).map((e) => [e.state, e.status]));
  const reach = (jobId: string, state: string, timeoutMs = BOOT_MS, nth = 1) =>
    waitFor(() => eventsOf(jobId).filter((e) => e.state === state)[nth - 1], `job ${jobId} to be ${state} (events: ${story(jobId)})`, timeoutMs);
  const lines = (jobId: string) => bus.logLinesOf(jobId).map((l) => l.stdout ?? '');
  const ticks = (jobId: string) => ticksOf(lines(jobId));
  /** A job that counts on its console, running, its first `count` ticks seen. */
  const ticking = async (count: number) => {
    const id = await created({ command: TICKS });
    await reach(id, 'RUNNING');
    await waitFor(() => ticks(id).length >= count, `${count} ticks`);
    return id;
  };
  return { stateDir, call, create, created, reach, eventsOf, story, lines, ticks, ticking, start, first };
}

type Harness = Awaited<ReturnType<typeof harness>>;

const run = promisify(execFile);
const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
/** A file inside a qcow2 disk's ext4 filesystem, read on the host (qemu-img to raw, then e2fsprogs' debugfs). */
async function fileOnDisk(qcow2: string, path: string, scratch: string): Promise<string> {
  const raw = join(scratch, 'disk.raw');
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, raw]);
  try {
    return (await run('debugfs', ['-R', `cat ${path}`, raw])).stdout;
  } finally {
    await rm(raw, { force: true });
  }
}

/** A test of its own harness (driver options `overrides`), with the VM tests' timeout. */
const vmTest = (name: string, body: (h: Harness) => Promise<void>, overrides: Partial<CloudVmDriverOptions> = {}) =>
  it(name, async () => body(await harness(overrides)), VM_TIMEOUT);

describe('the cloud-VM driver under real QEMU', () => {
  vmTest(
    'runs a VM job whose command prints a line and exits 3: RUNNING once booted, the line as a log line, SUCCESS with exit code 3, nothing left',
    async (h) => {
      const id = await h.created({ command: ['sh', '-c', 'echo "hello from $WHO"; exit 3'], env: { WHO: 'the VM' } });
      expect(await h.reach(id, 'RUNNING')).toMatchObject({ status: 'The VM is running', startedAt: expect.any(Number) });
      expect(await h.reach(id, 'SUCCESS')).toMatchObject({ exitCode: 3, status: 'Job finished with exit code 3' });
      await waitFor(() => h.lines(id).includes('hello from the VM'), `the line (lines: ${JSON.stringify(h.lines(id))})`, 10_000);
      expect(await qemusUnder(h.stateDir)).toEqual([]);
      await waitFor(async () => !(await stat(h.first.driver.vmDir(id)).catch(() => null)), 'the VM’s directory to be deleted', 10_000);
    },
  );

  vmTest(
    'suspends a VM to disk once however often asked (QEMU gone, a state file), keeps it across a provider restart, resumes it where it stopped, then terminates it, leaving nothing',
    async (h) => {
      const id = await h.ticking(2);
      const details = await h.first.driver.subschema!();
      expect(details.typeDefs).toContain('type CloudVmJobDetails');

      // Asked twice at once (two gateway replicas finding the wallet dry): one save, both answered ok.
      const twice = await Promise.all([h.call('jobs.suspend', { ids: [id] }), h.call('jobs.suspend', { ids: [id] })]);
      expect(twice.map((reply) => reply.result.results[0])).toMatchObject([{ ok: true }, { ok: true }]);
      await h.reach(id, 'SUSPENDED', 30_000);
      expect(h.eventsOf(id).filter((e) => e.state === 'SUSPENDED')).toHaveLength(1);
      expect(await qemusUnder(h.stateDir)).toEqual([]);
      expect((await stat(vmPaths(h.first.driver.vmDir(id)).stateFile)).size).toBeGreaterThan(1024 * 1024);
      const before = Math.max(...h.ticks(id));
      const capacity = (await h.call('utilization', {})).result;
      expect(capacity.capacityByProduct.tiny).toBe(1);
      // The suspended VM survives a restart of the provider: the next one resumes it.
      await h.first.runtime.stop();
      await h.start();
      expect((await h.call('jobs.retrieve', { ids: [id] })).result.jobs[0]).toMatchObject({ state: 'SUSPENDED' });

      expect((await h.call('jobs.unsuspend', { ids: [id] })).result.results[0]).toMatchObject({ ok: true });
      expect(await h.reach(id, 'RUNNING', 30_000, 2)).toMatchObject({ status: 'Job resumed' });
      await waitFor(() => h.ticks(id).length >= h.ticks(id).indexOf(before) + 3, 'ticks after the resume', 30_000);
      // The guest's counter carries on: no tick 1 again, and no gap beyond the one it was saved in.
      const after = h.ticks(id).slice(h.ticks(id).lastIndexOf(before) + 1);
      expect(after[0]).toBeGreaterThan(before);
      expect(after[0]).toBeLessThanOrEqual(before + 2);
      expect(h.ticks(id).filter((n) => n === 1)).toHaveLength(1);

      expect((await h.call('jobs.terminate', { ids: [id], reason: null })).result.results[0]).toMatchObject({ ok: true });
      expect(await h.reach(id, 'SUCCESS', 30_000)).toMatchObject({ status: 'Your job has been terminated' });
      expect(await qemusUnder(h.stateDir)).toEqual([]);
    },
  );

  vmTest(
    'gives each VM of the disk image its own copy-on-write overlay of the base disk: read from the base, written to the overlay, unseen by another VM, kept across a suspend and a restart, deleted when the job ends',
    async (h) => {
      const { disk: base } = guestImages();
      const baseDigest = await sha256(base);
      // The first VM reads the base's README, writes a file, then reads it back from the disk (caches dropped) every second.
      const writer = await h.created({
        image: 'busybox-disk',
        command: [
          'sh',
          '-c',
          'head -n 1 /mnt/disk/README; echo "written by the first VM" >/mnt/disk/first.txt && sync && echo wrote; while sleep 1; do echo 3 >/proc/sys/vm/drop_caches; echo "reads: $(cat /mnt/disk/first.txt)"; done',
        ],
      });
      await h.reach(writer, 'RUNNING');
      await waitFor(() => h.lines(writer).includes('wrote'), `the write (lines: ${JSON.stringify(h.lines(writer))})`, 30_000);
      expect(h.lines(writer)).toContainEqual(expect.stringMatching(/^Switchyard base disk image/));
      const overlay = vmPaths(h.first.driver.vmDir(writer)).disk;
      // -U: QEMU holds the image's lock while it runs.
      const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', overlay])).stdout);
      expect(info).toMatchObject({ format: 'qcow2', 'backing-filename': base, 'backing-filename-format': 'qcow2' });

      // Suspended: QEMU gone, the overlay kept, and in it what the guest wrote.
      expect((await h.call('jobs.suspend', { ids: [writer] })).result.results[0]).toMatchObject({ ok: true });
      await h.reach(writer, 'SUSPENDED', 30_000);
      expect(await qemusUnder(h.stateDir)).toEqual([]);
      expect(await fileOnDisk(overlay, '/first.txt', h.stateDir)).toBe('written by the first VM\n');

      // A second VM of the image has an overlay of its own: the base, without the first VM's file.
      const reader = await h.created({
        image: 'busybox-disk',
        command: [
          'sh',
          '-c',
          'if [ -e /mnt/disk/first.txt ]; then echo "sees first.txt"; else echo "no first.txt"; fi; cat /mnt/disk/README >/dev/null && echo mine >/mnt/disk/second.txt',
        ],
      });
      expect(await h.reach(reader, 'SUCCESS')).toMatchObject({ exitCode: 0 });
      expect(h.lines(reader)).toContain('no first.txt');
      await waitFor(
        async () => !(await stat(h.first.driver.vmDir(reader)).catch(() => null)),
        'the second VM’s directory and overlay to be deleted',
        10_000,
      );

      // The suspended VM's overlay outlives the provider; resumed, the guest reads its file from it again.
      await h.first.runtime.stop();
      const second = await h.start();
      expect((await stat(overlay)).isFile()).toBe(true);
      expect((await h.call('jobs.unsuspend', { ids: [writer] })).result.results[0]).toMatchObject({ ok: true });
      await h.reach(writer, 'RUNNING', 30_000, 2);
      const readsBefore = h.lines(writer).length;
      await waitFor(
        () => h.lines(writer).slice(readsBefore).includes('reads: written by the first VM'),
        `a read after the resume (lines: ${JSON.stringify(h.lines(writer).slice(-5))})`,
        30_000,
      );

      expect((await h.call('jobs.terminate', { ids: [writer], reason: null })).result.results[0]).toMatchObject({ ok: true });
      await h.reach(writer, 'SUCCESS', 30_000);
      await waitFor(
        async () => !(await stat(second.driver.vmDir(writer)).catch(() => null)),
        'the first VM’s directory and overlay to be deleted',
        10_000,
      );
      expect(await readdir(join(h.stateDir, 'vms'))).toEqual([]);
      expect(await qemusUnder(h.stateDir)).toEqual([]);
      // Nothing was written to the base.
      expect(await sha256(base)).toBe(baseDigest);
    },
  );

  vmTest('ends a long-lived VM at the end of its time allocation EXPIRED, powered off, and an extension moves the deadline', async (h) => {
    const id = await h.created({ command: null, timeAllocationMs: 3_000 });
    const running = await h.reach(id, 'RUNNING');
    expect(running.expiresAt).toBe(running.startedAt! + 3_000);
    const reply = await h.call('jobs.extend', { items: [{ id, addMs: 2_000 }] });
    expect(reply.result.results[0]).toMatchObject({ ok: true, expiresAt: running.startedAt! + 5_000 });
    const expired = await h.reach(id, 'EXPIRED', 30_000);
    expect(expired.status).toBe('The job reached the end of its time allocation');
    expect(expired.timestamp - running.startedAt!).toBeGreaterThanOrEqual(5_000);
    expect(await qemusUnder(h.stateDir)).toEqual([]);
  });

  vmTest(
    'finds its running VM again after a restart (the console goes on as log lines), and ends FAILURE, saying so, a VM whose QEMU died while it was down',
    async (h) => {
      const id = await h.ticking(1);
      const [pid] = await qemusUnder(h.stateDir);
      await h.first.runtime.stop();
      // The VM ran on without a provider.
      expect(await qemusUnder(h.stateDir)).toEqual([pid]);

      const second = await h.start();
      const seen = h.ticks(id).length;
      await waitFor(() => h.ticks(id).length >= seen + 2, 'ticks through the restarted provider', 30_000);
      expect((await h.call('jobs.retrieve', { ids: [id] })).result.jobs[0]).toMatchObject({ state: 'RUNNING', providerGeneratedId: `vm-${id}` });
      expect(h.eventsOf(id).some((e) => e.state === 'FAILURE')).toBe(false);

      await second.runtime.stop();
      process.kill(pid!, 'SIGKILL');
      await waitFor(async () => (await qemusUnder(h.stateDir)).length === 0, 'the QEMU to die', 10_000);
      await h.start();
      expect(await h.reach(id, 'FAILURE', 30_000)).toMatchObject({ status: 'The VM’s QEMU ended while the provider was not running' });
    },
  );

  vmTest('keeps a job IN_QUEUE while every VM slot is taken, and boots it when the slot frees', async (h) => {
    const first = await h.created({ command: null });
    await h.reach(first, 'RUNNING');
    expect((await h.call('utilization', {})).result.capacityByProduct.tiny).toBe(0);
    const second = await h.created({ command: ['sh', '-c', 'echo second; exit 0'] });
    await waitFor(() => h.eventsOf(second).find((e) => e.status === 'Waiting for a free VM slot (next)'), `the second to wait (${h.story(second)})`);
    expect((await h.call('jobs.terminate', { ids: [first], reason: 'No more credits' })).result.results[0]).toMatchObject({ ok: true });
    expect(await h.reach(first, 'SUCCESS', 30_000)).toMatchObject({ status: 'Your job has been terminated (No more credits)' });
    expect(await h.reach(second, 'SUCCESS')).toMatchObject({ exitCode: 0 });
    expect(h.lines(second)).toContain('second');
  });

  vmTest(
    'ends FAILURE, saying why, a VM whose guest kernel panics and one whose QEMU is killed',
    async (h) => {
      const panics = await h.created({ command: ['sh', '-c', 'echo c > /proc/sysrq-trigger; sleep 60'] });
      const killed = await h.ticking(1);
      const dir = h.first.driver.vmDir(killed);
      process.kill((await runningQemu(dir))!, 'SIGKILL');
      expect(await h.reach(killed, 'FAILURE', 30_000)).toMatchObject({ status: "The VM's QEMU ended unexpectedly: QEMU was killed by SIGKILL" });
      expect(await h.reach(panics, 'FAILURE')).toMatchObject({
        status: expect.stringMatching(/^The guest kernel panicked: Kernel panic - not syncing: sysrq triggered crash/),
      });
      expect(await qemusUnder(h.stateDir)).toEqual([]);
    },
    { maxVms: 2 },
  );

  it('refuses bad input with a clear error, leaving nothing: an image it does not have, an instance type too large for the host, a QEMU that fails to start', async () => {
    const h = await harness();
    const image = await h.create({ command: ['true'], image: 'windows-11' });
    expect(image.result).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining('image windows-11 is not offered') },
    });
    const huge = await h.create({ command: ['true'] }, 'huge');
    expect(huge.result).toMatchObject({ ok: false, error: { code: 'NO_CAPACITY', message: expect.stringContaining('larger than this host') } });
    expect((await h.call('utilization', {})).result.capacityByProduct.huge).toBe(0);
    const env = await h.create({ command: ['true'], env: { 'NOT A NAME': 'x' } });
    expect(env.result).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });

    await h.first.runtime.stop();
    runtimes = [];
    const { kernel, initrd, diskInitrd } = guestImages();
    const broken = await h.start({
      images: [
        { id: 'busybox', kernel: '/nonexistent/vmlinuz', initrd },
        { id: 'busybox-disk', kernel, initrd: diskInitrd, disk: '/nonexistent/base.qcow2' },
      ],
    });
    const failed = await h.create({ command: ['true'] });
    expect(failed.result).toMatchObject({
      ok: false,
      error: { code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(/could not start.*nonexistent/) },
    });
    // A base disk that is not there: qemu-img's own words, and no overlay or directory left.
    const noBase = await h.create({ command: ['true'], image: 'busybox-disk' });
    expect(noBase.result).toMatchObject({
      ok: false,
      error: {
        code: 'PROVIDER_UNAVAILABLE',
        message: expect.stringMatching(/qemu-img could not make the VM's disk over \/nonexistent\/base\.qcow2: .+/),
      },
    });
    expect(await qemusUnder(h.stateDir)).toEqual([]);
    expect(await readdir(join(h.stateDir, 'vms'))).toEqual([]);
    expect((await broken.driver.observe(failed.job.id)).state).toBeNull();
    expect((await broken.driver.observe(noBase.job.id)).state).toBeNull();
    // A base disk given as a relative path: a configuration error, before anything starts.
    expect(() => createCloudVmDriver({ stateDir: h.stateDir, images: [{ id: 'rel', kernel, initrd: diskInitrd, disk: 'disk.qcow2' }] })).toThrow(
      /disk: the base disk must be an absolute path/,
    );
  }, 60_000);
});
