/** The pure parts of the Shakudo dialect: statuses of core jobs, parameter ids, the services where, and the command a pipeline job runs. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { Job, JobState } from '../../../shared/domain.js';
import {
  jobStatus,
  parameterId,
  parameterRows,
  parseParameterId,
  pipelineCommand,
  readImmediateTimeout,
  shellQuote,
  userOfEmail,
  type ShakudoMeta,
} from './shakudo-views.js';

function job(state: JobState, over: Partial<Job> = {}): Job {
  return {
    id: 'j1',
    owner: { createdBy: 'demo', project: null },
    specification: { command: ['true'], tags: [], env: null, parameters: null } as unknown as Job['specification'],
    state,
    startedAt: 1_000,
    expiresAt: null,
    exitCode: null,
    allowRestart: false,
    providerId: 'local',
    providerGeneratedId: null,
    createdAt: 500,
    updates: [{ state, status: null, newTimeAllocation: null, timestamp: 2_000 }],
    acl: [],
    creditsCharged: 0,
    specHash: '',
    ...over,
  } as Job;
}

describe('jobStatus', () => {
  it('shows the core states as Shakudo statuses', () => {
    expect(jobStatus(job('IN_QUEUE'))).toBe('pending');
    expect(jobStatus(job('SUSPENDED'))).toBe('pending');
    expect(jobStatus(job('RUNNING'))).toBe('in progress');
    expect(jobStatus(job('CANCELING'))).toBe('cancelled');
    expect(jobStatus(job('EXPIRED'))).toBe('timed out');
    expect(jobStatus(job('FAILURE'))).toBe('failed');
  });

  it('a program that ended is done with exit code 0 and failed otherwise (the core calls both SUCCESS); a terminated one is cancelled', () => {
    expect(jobStatus(job('SUCCESS', { exitCode: 0 }))).toBe('done');
    expect(jobStatus(job('SUCCESS', { exitCode: null }))).toBe('done');
    expect(jobStatus(job('SUCCESS', { exitCode: 2 }))).toBe('failed');
    const terminated = [
      { state: 'CANCELING' as const, status: null, newTimeAllocation: null, timestamp: 1_500 },
      { state: 'SUCCESS' as const, status: 'Your job has been terminated', newTimeAllocation: null, timestamp: 2_000 },
    ];
    expect(jobStatus(job('SUCCESS', { exitCode: 143, updates: terminated }))).toBe('cancelled');
  });
});

describe('parameters and emails', () => {
  it('makes parameter ids of the pipeline job and the key, and reads them back (the job id may itself hold slashes)', () => {
    expect(parameterId('p1', 'GREETING')).toBe('p1/GREETING');
    expect(parseParameterId('p1/GREETING')).toEqual({ pipelineJobId: 'p1', key: 'GREETING' });
    expect(parseParameterId('a/b/KEY')).toEqual({ pipelineJobId: 'a/b', key: 'KEY' });
    for (const bad of ['nokey', '/KEY', 'p1/']) expect(parseParameterId(bad), bad).toBeNull();
  });

  it("lists a job's Shakudo parameters, or the environment of a job made elsewhere", () => {
    const meta = { parameters: [{ key: 'A', value: '1' }] } as ShakudoMeta;
    expect(parameterRows('p1', { parameters: { shakudo: meta }, env: { IGNORED: 'x' } } as never)).toEqual([
      { id: 'p1/A', key: 'A', value: '1', pipelineJobId: 'p1' },
    ]);
    expect(parameterRows('p2', { parameters: null, env: { B: '2' } } as never)).toEqual([{ id: 'p2/B', key: 'B', value: '2', pipelineJobId: 'p2' }]);
  });

  it('takes the user an email names from its local part', () => {
    expect(userOfEmail('Demo@shakudo.io')).toBe('demo');
    expect(userOfEmail('demo')).toBe('demo');
  });
});

describe('readImmediateTimeout', () => {
  it('reads the documented `timeout: {equals: "immediate"}` as the schedule, inside AND/OR/NOT too, and leaves other conditions', () => {
    expect(readImmediateTimeout({ timeout: { equals: 'immediate' }, exposedPort: { not: null } })).toEqual({
      schedule: { equals: 'immediate' },
      exposedPort: { not: null },
    });
    expect(readImmediateTimeout({ AND: [{ timeout: { not: 'immediate' } }, { timeout: { gt: 60 } }] })).toEqual({
      AND: [{ schedule: { not: 'immediate' } }, { timeout: { gt: 60 } }],
    });
  });
});

describe('pipelineCommand (run with sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-shakudo-command-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const meta = (over: Partial<ShakudoMeta>) =>
    ({ pipelineYamlPath: 'pipeline.yaml', jobCommand: null, branchName: null, commitId: null, ...over }) as ShakudoMeta;
  const run = (command: string[], cwd: string) => {
    const result = spawnSync(command[0]!, command.slice(1), { cwd, encoding: 'utf8', env: { PATH: process.env.PATH, GREETING: 'hi' } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const workspace = (name: string, files: Record<string, string>) => {
    const at = join(dir, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(at, path, '..'), { recursive: true });
      writeFileSync(join(at, path), text);
    }
    mkdirSync(at, { recursive: true });
    return at;
  };

  it("runs the YAML's bash and python tasks in order, and stops at the first that fails with its status", () => {
    const yaml =
      'pipeline:\n  tasks:\n    - name: one\n      bash_script_path: "steps/one.sh"\n    - name: two\n      bash_script_path: \'steps/two.sh\'\n';
    const ok = workspace('ok', { 'pipeline.yaml': yaml, 'steps/one.sh': 'echo "one $GREETING"\n', 'steps/two.sh': 'echo two\n' });
    expect(run(pipelineCommand(meta({}), null), ok)).toMatchObject({ status: 0, stdout: 'one hi\ntwo\n' });
    const failing = workspace('failing', { 'pipeline.yaml': yaml, 'steps/one.sh': 'exit 5\n', 'steps/two.sh': 'echo two\n' });
    expect(run(pipelineCommand(meta({}), null), failing)).toMatchObject({ status: 5, stdout: '' });
  });

  it('exits 2 when the YAML is not there, 3 on a notebook task (no Jupyter here)', () => {
    expect(run(pipelineCommand(meta({ pipelineYamlPath: 'missing.yaml' }), null), workspace('empty', {}))).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('pipeline file missing.yaml not found'),
    });
    const notebook = workspace('notebook', { 'pipeline.yaml': 'tasks:\n  - notebook_path: "a.ipynb"\n' });
    expect(run(pipelineCommand(meta({}), null), notebook).status).toBe(3);
  });

  it("a checkout that fails ends the job with git's status and message, before the YAML is looked for", () => {
    const result = run(pipelineCommand(meta({}), { url: `file://${join(dir, 'no-such-repo')}`, defaultBranch: 'main' }), workspace('clone', {}));
    expect(result.status).toBe(128);
    expect(result.stderr).toMatch(/no-such-repo/);
    expect(result.stderr).not.toMatch(/pipeline file/);
  });

  it('quotes for sh (what a branch or URL holds is not run as shell), and runs a jobCommand as sh would', () => {
    const at = workspace('quote', {});
    const text = `it's $(touch pwned) "quoted"`;
    expect(run(['sh', '-c', `printf %s ${shellQuote(text)}`], at)).toMatchObject({ status: 0, stdout: text });
    expect(run(['sh', '-c', 'ls'], at).stdout).toBe('');
    // A jobCommand runs as sh runs it: without -e.
    expect(run(pipelineCommand(meta({ jobCommand: 'echo "$GREETING"; false; echo after' }), null), at)).toMatchObject({
      status: 0,
      stdout: 'hi\nafter\n',
    });
  });
});
