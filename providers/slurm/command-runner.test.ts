/**
 * The command runner process: commands run there answer as they would here —
 * output, exit codes, a kill at the time limit, an abort — and a runner that
 * dies answers its commands rather than leaving them hanging. Plain shell
 * commands stand in for Slurm's: no cluster needed.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { createCommandRunner, limitShares, type CommandRunner } from './command-runner.js';
import type { CommandRequest } from './run-command.js';
import { createSlurmCli } from './slurm-cli.js';

const request = (script: string, overrides: Partial<CommandRequest> = {}): CommandRequest => ({
  command: 'sh',
  args: ['-c', script],
  env: { PATH: process.env.PATH, GREETING: 'from the request' },
  timeoutMs: 5_000,
  maxOutputBytes: 1024,
  ...overrides,
});

describe('the command runner process', () => {
  let runner: CommandRunner;
  afterEach(async () => {
    await runner?.close();
  });

  it('runs commands in a process of its own, with the environment asked for, and answers their output and exit code', async () => {
    runner = createCommandRunner();
    const [ok, failed] = await Promise.all([
      runner.run(request('echo "$GREETING" pid=$PPID; echo oops >&2')),
      runner.run(request('echo half; exit 3')),
    ]);
    expect(ok).toMatchObject({ kind: 'exited', code: 0, stderr: 'oops\n' });
    expect(ok.kind === 'exited' && ok.stdout).toMatch(/^from the request pid=\d+\n$/);
    // Its parent is the runner, not this process.
    expect(ok.kind === 'exited' && ok.stdout).not.toContain(`pid=${process.pid}\n`);
    expect(failed).toMatchObject({ kind: 'exited', code: 3, stdout: 'half\n' });
  });

  it('kills a command past its time, or past its output limit, or when aborted', async () => {
    runner = createCommandRunner();
    const started = Date.now();
    expect(await runner.run(request('echo started >&2; sleep 30', { timeoutMs: 300 }))).toEqual({ kind: 'timed-out', stderr: 'started\n' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await runner.run(request('head -c 5000 /dev/zero'))).toEqual({ kind: 'too-much-output' });
    const abort = new AbortController();
    const running = runner.run(request('sleep 30'), abort.signal);
    setTimeout(() => abort.abort(), 100);
    expect(await running).toEqual({ kind: 'aborted', stderr: '' });
    expect(await runner.run(request('true'), abort.signal)).toEqual({ kind: 'not-run' });
  });

  it('words its answers as the CLI in this process does', async () => {
    runner = createCommandRunner();
    const apart = createSlurmCli({ env: { PATH: process.env.PATH } }, runner.run);
    const here = createSlurmCli({ env: { PATH: process.env.PATH } });
    for (const cli of [apart, here]) {
      await expect(cli.run('sh', ['-c', 'echo no such partition >&2; exit 1'])).rejects.toMatchObject({
        code: 'PROVIDER_UNAVAILABLE',
        exitCode: 1,
        message: 'Slurm command `sh -c echo no such partition >&2; exit 1` failed with exit code 1: no such partition',
      });
      await expect(cli.run('no-such-slurm-command', [])).rejects.toMatchObject({
        message: expect.stringContaining('is not installed or not on PATH'),
      });
      expect(await cli.run('echo', ['hi'])).toEqual({ stdout: 'hi\n', stderr: '' });
    }
  });

  it('spreads commands over its runner processes, and runs a limited command at most its limit at once, over all of them', async () => {
    runner = createCommandRunner({ processes: 2, limits: { sh: 3 } });
    // Each prints its runner (its parent) and the time it ran, in ms.
    const script = 'echo $PPID $(date +%s%3N); sleep 0.3; date +%s%3N';
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => runner.run(request(script, { timeoutMs: 500 }))));
    const runs = outcomes.map((outcome) => {
      expect(outcome).toMatchObject({ kind: 'exited', code: 0 });
      const [first = '', end] = (outcome.kind === 'exited' ? outcome.stdout : '').trim().split('\n');
      const [ppid, start = Number.NaN] = first.split(' ').map(Number);
      return { ppid, start, end: Number(end) };
    });
    expect(new Set(runs.map((run) => run.ppid)).size).toBe(2);
    // Never more than 3 at once; the ones that waited got their whole time limit once they ran.
    for (const run of runs) expect(runs.filter((other) => other.start <= run.start && other.end > run.start).length).toBeLessThanOrEqual(3);
    expect(Math.max(...runs.map((run) => run.end)) - Math.min(...runs.map((run) => run.start))).toBeGreaterThanOrEqual(550);
  });

  it('shares a limit out over the runners so that the shares add up to it', () => {
    expect(limitShares({ sbatch: 16, scancel: 3 }, 2)).toEqual([
      { sbatch: 8, scancel: 2 },
      { sbatch: 8, scancel: 1 },
    ]);
    expect(limitShares({ sbatch: 1 }, 3)).toEqual([{ sbatch: 1 }, { sbatch: 0 }, { sbatch: 0 }]);
  });

  it('answers the commands of a runner that died as not run, and starts again for the next', async () => {
    runner = createCommandRunner();
    const pid = await runner.run(request('echo $PPID'));
    const runnerPid = Number(pid.kind === 'exited' ? pid.stdout.trim() : NaN);
    const hanging = runner.run(request('sleep 30'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(runnerPid, 'SIGKILL');
    expect(await hanging).toMatchObject({ kind: 'spawn-failed', message: expect.stringContaining('the Slurm command runner exited') });
    const again = await runner.run(request('echo $PPID'));
    expect(again).toMatchObject({ kind: 'exited', code: 0 });
    expect(again.kind === 'exited' && Number(again.stdout.trim())).not.toBe(runnerPid);
  });
});
