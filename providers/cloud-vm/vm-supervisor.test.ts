/**
 * The VM supervisor with real QEMU (TCG) and the guest images from
 * deploy/vm/build-images.sh: a command's output and exit code, suspend to a
 * state file and resume where it stopped, stop, and a QEMU that cannot start.
 * Each test boots one VM; boots take seconds under TCG on a shared machine,
 * so the timeouts are generous.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { eventually } from '../../test/support/graphql-client.js';
import { guestImages, TICKS, ticksOf } from '../../test/support/vm-setup.js';
import { findQemu } from './qemu-command.js';
import { runningQemu, startVm, VmStartError, type StartVmOptions, type VmSupervisor } from './vm-supervisor.js';

const VM_TIMEOUT = 120_000;
const vms: VmSupervisor[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const vm of vms.splice(0)) {
    vm.kill();
    await vm.ended;
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function options(command: string[] | null, overrides: Partial<StartVmOptions> = {}): Promise<StartVmOptions> {
  const images = guestImages();
  const dir = await mkdtemp(join(tmpdir(), 'sy-vm-'));
  dirs.push(dir);
  return {
    qemu: findQemu(),
    kernel: images.kernel,
    initrd: images.initrd,
    vcpus: 1,
    memoryMiB: 256,
    dir: join(dir, 'vm'),
    userData: { nonce: randomUUID().slice(0, 8), command, env: {}, workingDir: null },
    ...overrides,
  };
}

async function start(opts: StartVmOptions): Promise<{ vm: VmSupervisor; lines: string[] }> {
  const vm = await startVm(opts);
  vms.push(vm);
  const lines: string[] = [];
  vm.onLine((line, afterBoot) => afterBoot && lines.push(line));
  return { vm, lines };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the VM supervisor under real QEMU', () => {
  it(
    'boots a guest that runs the command from its user data: its output line, exit code 3, and no QEMU left',
    async () => {
      const opts = await options(['sh', '-c', 'echo "hello from $WHO in $(pwd)"; exit 3'], {
        vcpus: 2,
        memoryMiB: 192,
      });
      opts.userData = { ...opts.userData, env: { WHO: "the guest's shell" }, workingDir: '/srv/work' };
      const { vm, lines } = await start(opts);
      const shape = await vm.booted;
      expect(shape.vcpus).toBe(2);
      // The kernel keeps some memory for itself.
      expect(shape.memoryKiB).toBeGreaterThan(100 * 1024);
      expect(shape.memoryKiB).toBeLessThanOrEqual(192 * 1024);
      expect(await vm.ended).toEqual({ kind: 'exited', exitCode: 3 });
      expect(lines).toContain("hello from the guest's shell in /srv/work");
      expect(alive(vm.pid)).toBe(false);
      expect(await runningQemu(opts.dir)).toBeNull();
      expect(await vm.consoleBytes()).toBeGreaterThan(0);
    },
    VM_TIMEOUT,
  );

  it(
    'suspends a VM to a state file (no QEMU left) and resumes it where it stopped (its counter carries on), then stops it',
    async () => {
      const opts = await options(TICKS);
      const first = await start(opts);
      await first.vm.booted;
      const ticks = ticksOf;
      await eventually(async () => ticks(first.lines).length >= 3, { what: 'three ticks', timeoutMs: 60_000 });
      const status = await first.vm.query();
      expect(status).toMatchObject({ status: 'running', vcpus: 1, memoryBytes: 256 * 1024 * 1024 });

      const saved = await first.vm.suspend();
      expect(await first.vm.ended).toEqual({ kind: 'suspended' });
      expect(alive(first.vm.pid)).toBe(false);
      expect(await runningQemu(opts.dir)).toBeNull();
      expect((await stat(first.vm.paths.stateFile)).size).toBe(saved.stateBytes);
      expect(saved.stateBytes).toBeGreaterThan(1024 * 1024);
      const last = Math.max(...ticks(first.lines));

      const second = await start({ ...opts, resume: true });
      expect(second.vm.phase()).toBe('running');
      await eventually(async () => ticks(second.lines).length >= 2, { what: 'ticks after the resume', timeoutMs: 60_000 });
      // It carries on from where it was, not from the start.
      expect(ticks(second.lines)[0]).toBeGreaterThan(last);
      expect(ticks(second.lines)[0]).toBeLessThanOrEqual(last + 2);

      expect(await second.vm.stop({ graceMs: 500 })).toEqual({ kind: 'stopped' });
      expect(alive(second.vm.pid)).toBe(false);
      expect(await runningQemu(opts.dir)).toBeNull();
    },
    VM_TIMEOUT,
  );

  it(
    'ends, as unresponsive, a VM whose console falls silent while it runs and one whose QEMU stops answering',
    async () => {
      // The guest stops its own heartbeat and says nothing more.
      const silent = await start(
        await options(['sh', '-c', 'kill $(cat /run/switchyard-heartbeat.pid); echo quiet now; sleep 600'], { stallMs: 3_000 }),
      );
      const frozen = await start(await options(TICKS, { stallMs: 3_000 }));
      await Promise.all([silent.vm.booted, frozen.vm.booted]);
      await eventually(async () => frozen.lines.length > 0, { what: 'a tick', timeoutMs: 60_000 });
      process.kill(frozen.vm.pid, 'SIGSTOP');
      expect(await frozen.vm.ended).toEqual({ kind: 'unresponsive', detail: 'QEMU stopped answering QMP' });
      expect(await silent.vm.ended).toEqual({
        kind: 'unresponsive',
        detail: expect.stringMatching(/^its console has been silent for \d+ s while it runs$/),
      });
      expect(silent.lines).toContain('quiet now');
      expect(alive(silent.vm.pid) || alive(frozen.vm.pid)).toBe(false);
    },
    VM_TIMEOUT,
  );

  it('ends, as unresponsive, a VM whose guest does not say it has booted in time', async () => {
    const { vm } = await start(await options(['true'], { bootTimeoutMs: 1_000 }));
    expect(await vm.ended).toEqual({ kind: 'unresponsive', detail: 'the guest did not say it had booted within 1 s' });
    expect(alive(vm.pid)).toBe(false);
  });

  it('refuses a VM whose QEMU cannot start, saying what QEMU said, leaving no QEMU', async () => {
    const opts = await options(['true'], { kernel: '/nonexistent/vmlinuz' });
    const error = await startVm(opts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmStartError);
    expect((error as Error).message).toMatch(/nonexistent\/vmlinuz/);
    expect(await runningQemu(opts.dir)).toBeNull();
  });
});
