/**
 * The batch script and sbatch's arguments a job becomes, as text. The script
 * is also run through bash here (without Slurm: srun is a stand-in that
 * prints its arguments), so its quoting is proven, not just read.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { makeSpecification } from '../../test/support/jobs.js';
import { computeSupport } from '../sdk/index.js';
import { batchEnvironment, batchScript, sbatchArgs, shellStepArgs, slurmPath, type SbatchPlan } from './slurm-batch-script.js';
import type { PartitionProduct } from './slurm-products.js';

const sold: PartitionProduct = {
  product: {
    id: 'slurm-debug',
    category: 'slurm-cpu',
    name: 'Slurm debug',
    description: '',
    cpu: 2,
    memoryInGigs: 1.75,
    gpu: 0,
    pricePerUnit: 2,
    unitOfPrice: 'CREDITS_PER_HOUR',
    freeToUse: false,
    priority: 0,
    support: computeSupport({ backend: 'NATIVE' }),
  },
  partition: {
    name: 'debug',
    state: 'UP',
    isDefault: true,
    maxTimeSeconds: 86_400,
    defaultTimeSeconds: 3600,
    nodes: 'sy1',
    totalCpus: 4,
    totalNodes: 1,
  },
  cpusPerTask: 2,
  memoryMb: 1792,
};

const job = (spec: Parameters<typeof makeSpecification>[0]) => ({ id: 'job-7', specification: makeSpecification(spec) });
const plan = (overrides: Partial<SbatchPlan> = {}): SbatchPlan => ({
  sold,
  timeMinutes: 30,
  cwd: '/work/jobs/job-7',
  dir: '/work/jobs/job-7',
  account: null,
  ...overrides,
});

describe('sbatch arguments', () => {
  it('name the job after its id, ask for its partition, time, tasks, CPUs and memory, and keep the provider’s environment out', () => {
    expect(sbatchArgs(job({ replicas: 1 }), plan(), '/work/jobs/job-7/job.sh')).toEqual([
      '--parsable',
      '--job-name=sy-job-7',
      '--comment=job-7',
      '--partition=debug',
      '--time=30',
      '--ntasks=1',
      '--cpus-per-task=2',
      '--mem=1792M',
      '--chdir=/work/jobs/job-7',
      '--output=/work/jobs/job-7/batch.out',
      '--error=/work/jobs/job-7/batch.err',
      '--export=NONE',
      '/work/jobs/job-7/job.sh',
    ]);
  });

  it('ask for memory per CPU when there are several replicas, and for the job’s account when there is one', () => {
    const args = sbatchArgs(job({ replicas: 3 }), plan({ account: { uid: 65534, gid: 65534, name: 'nobody' } }), 'job.sh');
    expect(args).toContain('--mem-per-cpu=896M');
    expect(args).toContain('--ntasks=3');
    expect(args.slice(-3)).toEqual(['--uid=65534', '--gid=65534', 'job.sh']);
    expect(sbatchArgs(job({}), plan({ sold: { ...sold, memoryMb: 0 } }), 'job.sh').some((a) => a.startsWith('--mem'))).toBe(false);
  });

  it('double a "%" in file names, which Slurm would read as a pattern', () => {
    expect(slurmPath('/data/100%/x')).toBe('/data/100%%/x');
    expect(sbatchArgs(job({}), plan({ dir: '/w/50%' }), 'job.sh')).toContain('--output=/w/50%%/batch.out');
  });
});

describe('the batch script', () => {
  it('exports the job’s environment and runs its command with srun, each rank writing its own files', () => {
    const script = batchScript(job({ command: ['echo', 'hi'], env: { GREETING: 'hello world' }, replicas: 2 }), '/work/jobs/job-7');
    expect(script.split('\n')).toEqual([
      '#!/bin/bash',
      "# Switchyard job job-7, submitted by the Slurm provider: one srun task per replica, each rank's output in its own files.",
      "export GREETING='hello world'",
      "export SWITCHYARD_JOB_ID='job-7'",
      "export SWITCHYARD_REPLICAS='2'",
      `exec srun --export=ALL '--output=/work/jobs/job-7/rank-%t.out' '--error=/work/jobs/job-7/rank-%t.err' /bin/bash -c 'export SWITCHYARD_RANK="$SLURM_PROCID"; exec "$@"' switchyard-rank 'echo' 'hi'`,
      '',
    ]);
  });

  it('passes every argument through bash unchanged, whatever it holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-batch-script-'));
    try {
      // A stand-in for srun: runs the rank command as srun would, for rank 0.
      writeFileSync(join(dir, 'srun'), '#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nSLURM_PROCID=0 exec "$@"\n');
      chmodSync(join(dir, 'srun'), 0o755);
      const tricky = [`it's "quoted" $HOME; \`x\``, 'two  spaces', '*', '\\n', '$(id)'];
      const script = batchScript(job({ command: ['printf', '%s|', ...tricky], env: { A_VAR: "it's $HOME" } }), dir);
      const out = execFileSync('bash', ['-c', script], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
      expect(out).toBe(`${tricky.join('|')}|`);
      const env = execFileSync(
        'bash',
        ['-c', batchScript(job({ command: ['sh', '-c', 'echo "$A_VAR/$SWITCHYARD_RANK/$SWITCHYARD_JOB_ID"'], env: { A_VAR: "it's $HOME" } }), dir)],
        {
          env: { PATH: `${dir}:/usr/bin:/bin` },
          encoding: 'utf8',
        },
      );
      expect(env).toBe("it's $HOME/0/job-7\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens a shell as a step of its own in the job, on a pty, in its directory, with its environment and none of the provider’s', () => {
    const launch = { cwd: '/work/job-7', env: batchEnvironment(job({ env: { COLOUR: 'teal blue' }, replicas: 2 })) };
    expect(shellStepArgs('4242', launch, 1, { uid: 65534, gid: 65534 })).toEqual([
      '--jobid=4242',
      '--uid=65534',
      '--gid=65534',
      '--overlap',
      '--pty',
      '--ntasks=1',
      '--nodes=1',
      '--quiet',
      '--job-name=switchyard-shell',
      '--export=NONE',
      '--chdir=/work/job-7',
      '/usr/bin/env',
      'PATH=/usr/local/bin:/usr/bin:/bin',
      'TERM=xterm-256color',
      'COLOUR=teal blue',
      'SWITCHYARD_JOB_ID=job-7',
      'SWITCHYARD_REPLICAS=2',
      'SWITCHYARD_RANK=1',
      '/bin/bash',
      '-i',
    ]);
    // A provider that is not root runs its jobs as itself, and asks as itself.
    expect(shellStepArgs('4242', launch, 0, null).slice(0, 2)).toEqual(['--jobid=4242', '--overlap']);
  });
});
