import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import {
  arrayDispatchScript,
  arrayKey,
  arraySbatchArgs,
  arrayTaskId,
  newArrayName,
  parseArrayTaskId,
  parseSbatchAnswer,
  SLURM_ARRAY_NAME_PREFIX,
} from './slurm-arrays.js';
import { SLURM_JOB_NAME_PREFIX } from './slurm-batch-script.js';
import { taskOfArray } from './slurm-queue.js';

const lone = (id: string, partition = 'debug', minutes = 60) => [
  '--parsable',
  `--job-name=sy-${id}`,
  `--comment=${id}`,
  `--partition=${partition}`,
  `--time=${minutes}`,
  '--ntasks=1',
  '--cpus-per-task=1',
  '--mem=1000M',
  `--chdir=/w/jobs/${id}`,
  `--output=/w/jobs/${id}/batch.out`,
  `--error=/w/jobs/${id}/batch.err`,
  '--export=NONE',
  '--uid=65534',
  '--gid=65534',
  `/w/jobs/${id}/job.sh`,
];

describe('Slurm job arrays', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('group jobs that ask for the same resources and account, whatever their names, directories and scripts', () => {
    expect(arrayKey(lone('a'))).toBe(arrayKey(lone('b')));
    expect(arrayKey(lone('a'))).not.toBe(arrayKey(lone('b', 'long')));
    expect(arrayKey(lone('a'))).not.toBe(arrayKey(lone('b', 'debug', 61)));
    const otherAccount = lone('b').map((arg) => (arg.startsWith('--uid=') ? '--uid=1001' : arg));
    expect(arrayKey(lone('a'))).not.toBe(arrayKey(otherAccount));
  });

  it('submit an array with the jobs’ shared arguments, one task each, its files reaching each job’s directory by task', () => {
    expect(arraySbatchArgs(lone('a'), 'sya-x', 3, '/w/jobs/sya-x', '/w/jobs/sya-x/array.sh')).toEqual([
      '--parsable',
      '--array=0-2',
      '--job-name=sya-x',
      '--comment=sya-x',
      '--partition=debug',
      '--time=60',
      '--ntasks=1',
      '--cpus-per-task=1',
      '--mem=1000M',
      '--export=NONE',
      '--uid=65534',
      '--gid=65534',
      '--chdir=/w/jobs/sya-x',
      '--output=/w/jobs/sya-x/%a/batch.out',
      '--error=/w/jobs/sya-x/%a/batch.err',
      '/w/jobs/sya-x/array.sh',
    ]);
    const name = newArrayName();
    expect(name.startsWith(SLURM_ARRAY_NAME_PREFIX)).toBe(true);
    // Never taken for a job's own name, which recovery reads a job id from.
    expect(name.startsWith(SLURM_JOB_NAME_PREFIX)).toBe(false);
    expect(newArrayName()).not.toBe(name);
  });

  it('run each task’s own job script in its own working directory (the dispatch script under bash), and refuse a task without a job', async () => {
    const base = await mkdtemp(join(tmpdir(), 'sy-array-'));
    dirs.push(base);
    const tasks = await Promise.all(
      ["it's one", 'two'].map(async (name, index) => {
        const dir = join(base, `job-${index}`);
        const cwd = join(base, name);
        await mkdir(dir);
        await mkdir(cwd);
        const script = join(dir, 'job.sh');
        await writeFile(script, `#!/bin/bash\necho "job ${index} in $PWD"\nexit ${index + 3}\n`, { mode: 0o755 });
        return { dir, cwd, script };
      }),
    );
    const dispatch = join(base, 'array.sh');
    await writeFile(dispatch, arrayDispatchScript('sya-x', tasks), { mode: 0o755 });
    const runTask = (task: string) => {
      try {
        return { out: execFileSync(dispatch, { env: { SLURM_ARRAY_TASK_ID: task }, encoding: 'utf8', stdio: 'pipe' }), code: 0 };
      } catch (error) {
        const failed = error as { stdout: string; stderr: string; status: number };
        return { out: failed.stdout + failed.stderr, code: failed.status };
      }
    };
    expect(runTask('0')).toEqual({ out: `job 0 in ${join(base, "it's one")}\n`, code: 3 });
    expect(runTask('1')).toEqual({ out: `job 1 in ${join(base, 'two')}\n`, code: 4 });
    expect(runTask('2')).toEqual({ out: 'Switchyard: array task 2 has no job\n', code: 1 });
    await rm(tasks[1]!.cwd, { recursive: true });
    expect(runTask('1').code).toBe(1);
  });

  it('read task ids and sbatch’s answers, and find a task by its array’s name and index', () => {
    expect(arrayTaskId('189801', 5)).toBe('189801_5');
    expect(parseArrayTaskId('189801_5')).toEqual({ arrayId: '189801', task: 5 });
    expect(parseArrayTaskId('189801')).toBeNull();
    expect(parseArrayTaskId('189801_[4-5]')).toBeNull();
    expect(parseSbatchAnswer('189801\n')).toBe('189801');
    expect(parseSbatchAnswer('189801;cluster1')).toBe('189801');
    expect(parseSbatchAnswer('Submitted batch job 1')).toBeNull();
    const row = (slurmJobId: string, name: string) => ({ slurmJobId, name }) as Parameters<typeof taskOfArray>[0][number];
    const rows = [row('189801_0', 'sya-x'), row('189801_1', 'sya-x'), row('189900_1', 'sya-y'), row('189950', 'sy-job-1')];
    expect(taskOfArray(rows, { name: 'sya-x', task: 1 })?.slurmJobId).toBe('189801_1');
    expect(taskOfArray(rows, { name: 'sya-y', task: 1 })?.slurmJobId).toBe('189900_1');
    expect(taskOfArray(rows, { name: 'sya-x', task: 2 })).toBeNull();
  });
});
