/**
 * A shell in a local job's sandbox, through the driver alone: real jobs in bubblewrap, a real pty.
 * The relay and the gateway's part are tested in test/sessions.test.ts and end to end in
 * test/sessions-processes.test.ts.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { systemClock } from '../../shared/clock.js';
import type { JobSpecification } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import { eventually } from '../../test/support/graphql-client.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import type { Driver, DriverJobChange, DriverSession } from '../sdk/driver.js';
import { createLocalDriver, LOCAL_PRODUCTS } from './local-driver.js';

/** What a session's terminal shows, as it comes. */
function screen(session: DriverSession) {
  let text = '';
  session.stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return {
    type: (input: string) => session.stream.write(input),
    waitFor: (pattern: RegExp) =>
      eventually(async () => text.match(pattern), { what: `${pattern} on the terminal; it shows: ${JSON.stringify(text.slice(-3000))}` }),
  };
}

describe('a shell in a local job', () => {
  let stateDir: string;
  let driver: Driver;
  let hostOnlyFile: string;
  const events: Array<{ jobId: string; change: DriverJobChange }> = [];

  const start = async (spec: Partial<JobSpecification>) => {
    const job = makeCreateJob(LOCAL_PRODUCTS[0], 'local', spec);
    await driver.create(job);
    await eventually(async () => events.some((e) => e.jobId === job.id && e.change.state === 'RUNNING'), { what: 'the job to run' });
    return job.id;
  };

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'sy-local-shell-'));
    hostOnlyFile = join(tmpdir(), `sy-host-only-${process.pid}-${Date.now().toString(36)}`);
    writeFileSync(hostOnlyFile, 'only on the host\n', { mode: 0o644 });
    driver = createLocalDriver({ stateDir, terminateGraceMs: 200 });
    await driver.start({
      providerId: 'local',
      clock: systemClock,
      logger: silentLogger(),
      emit: (jobId, change) => events.push({ jobId, change }),
      log: () => undefined,
    });
  });

  afterEach(async () => {
    await driver.stop();
    rmSync(hostOnlyFile, { force: true });
    await rm(stateDir, { recursive: true, force: true });
  });

  it('runs inside the job’s sandbox: its account, directory, files, environment and processes, resized, with its exit code', async () => {
    const jobId = await start({ command: ['sh', '-c', 'echo made-by-the-job > job-file.txt; sleep 60'], env: { JOB_COLOUR: 'teal' } });
    const session = await driver.openSession!({ jobId, rank: 0, type: 'SHELL', cols: 80, rows: 24 });
    const term = screen(session);
    term.type('until [ -f job-file.txt ]; do sleep 0.05; done; echo "file:$(cat job-file.txt) env:$JOB_COLOUR uid:$(id -u) cwd:$(pwd)"\n');
    await term.waitFor(new RegExp(`file:made-by-the-job env:teal uid:65534 cwd:${join(stateDir, 'work', jobId)}`));
    term.type(`cat ${hostOnlyFile} 2>/dev/null || echo "host-file:hidden"; ls ${join(stateDir, 'jobs')} 2>/dev/null | wc -l | sed 's/^/records:/'\n`);
    await term.waitFor(/host-file:hidden/);
    await term.waitFor(/records:0/);
    term.type('echo "init:$(tr "\\0" "\\n" < /proc/1/cmdline | head -n 1) pids:$(ls /proc | grep -c "^[0-9]")"\n');
    const pids = await term.waitFor(/init:\S*bwrap pids:(\d+)/);
    // bwrap's init, the job's sh and sleep, and the shell with its own few: not the host's hundreds.
    expect(Number(pids[1])).toBeLessThan(15);
    session.resize(100, 30);
    term.type('echo "size:$(stty size)"\n');
    await term.waitFor(/size:30 100/);
    term.type('exit 7\n');
    expect(await session.exit).toEqual({ exitCode: 7 });
    // The job goes on without the shell.
    expect(events.filter((e) => e.jobId === jobId).map((e) => e.change.state)).not.toContain('SUCCESS');
    await driver.terminate(jobId);
  });

  it('passes the job’s LD_PRELOAD to the shell only, never to what runs as root on the way in', async () => {
    const jobId = await start({ command: ['sleep', '60'], env: { LD_PRELOAD: '/nonexistent/preload.so' } });
    const session = await driver.openSession!({ jobId, rank: 0, type: 'SHELL', cols: 80, rows: 24 });
    const term = screen(session);
    term.type('echo "preload:$LD_PRELOAD"\n');
    await term.waitFor(/preload:\/nonexistent\/preload\.so/);
    term.type('exit\n');
    await session.exit;
    await driver.terminate(jobId);
  });

  it('ends the shell when the job ends, and refuses one on a job that has ended, of a rank it does not have, or of another type', async () => {
    const jobId = await start({ command: ['sleep', '60'] });
    const session = await driver.openSession!({ jobId, rank: 0, type: 'SHELL', cols: 80, rows: 24 });
    await expect(driver.openSession!({ jobId, rank: 1, type: 'SHELL', cols: 80, rows: 24 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(driver.openSession!({ jobId, rank: 0, type: 'VNC', cols: 80, rows: 24 })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    // WEB needs the port of the job's app.
    await expect(driver.openSession!({ jobId, rank: 0, type: 'WEB', cols: 80, rows: 24 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await driver.terminate(jobId);
    const { exitCode } = await session.exit;
    expect(exitCode).not.toBe(0);
    await eventually(async () => events.some((e) => e.jobId === jobId && e.change.state === 'SUCCESS'), { what: 'the job to end' });
    await expect(driver.openSession!({ jobId, rank: 0, type: 'SHELL', cols: 80, rows: 24 })).rejects.toMatchObject({ code: 'INVALID_STATE' });
    // Nothing of the shell is left in the job's directory or the host's view of it.
    expect(() => readFileSync(join(stateDir, 'work', jobId, 'job-file.txt'))).toThrow();
  });
});
