/**
 * The Slurm CLI layer on its own: the parsers on output captured from Slurm
 * 22.05 (and output they must not trust), and the bounds on commands that fail
 * or hang. No cluster needed; the driver's tests run against the real one.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import {
  createSlurmCli,
  parseKeyValueLine,
  parsePartitions,
  parseSacct,
  parseSinfoNodes,
  parseSlurmDuration,
  parseSlurmExitCode,
  parseSlurmTime,
  parseSqueue,
  shellQuote,
  SQUEUE_FIELDS,
  switchyardExitCode,
  waitStatusToSlurmExitCode,
} from './slurm-cli.js';

describe('Slurm values', () => {
  it.each([
    ['0:02', 2],
    ['1:00', 60],
    ['5', 300],
    ['01:00:00', 3600],
    ['1:02:03', 3723],
    ['1-00:00:00', 86_400],
    ['2-03', 2 * 86_400 + 3 * 3600],
    ['7-00:00:00', 7 * 86_400],
    ['UNLIMITED', Number.POSITIVE_INFINITY],
    ['N/A', null],
    ['INVALID', null],
    ['', null],
  ])('reads the duration %j', (text, seconds) => {
    expect(parseSlurmDuration(text)).toBe(seconds);
  });

  it('reads times in local time, and no time as null', () => {
    expect(parseSlurmTime('2026-11-27T22:29:12')).toBe(new Date(2026, 10, 27, 22, 29, 12).getTime());
    expect(parseSlurmTime('N/A')).toBeNull();
    expect(parseSlurmTime('Unknown')).toBeNull();
  });

  it('decodes exit codes: raw wait statuses from squeue, exit:signal from sacct and scontrol', () => {
    expect(waitStatusToSlurmExitCode(768)).toBe('3:0');
    expect(waitStatusToSlurmExitCode(9)).toBe('0:9');
    expect(parseSlurmExitCode('3:0')).toEqual({ exitCode: 3, signal: 0 });
    expect(parseSlurmExitCode('garbage')).toBeNull();
    expect(switchyardExitCode({ exitCode: 3, signal: 0 })).toBe(3);
    expect(switchyardExitCode({ exitCode: 0, signal: 9 })).toBe(137);
  });

  it('reads scontrol key=value lines, values with spaces included', () => {
    expect(parseKeyValueLine('JobId=2 JobName=sy-b ExitCode=143:0 Comment=two words AllocNode:Sid=localhost:18960')).toEqual({
      JobId: '2',
      JobName: 'sy-b',
      ExitCode: '143:0',
      Comment: 'two words',
      'AllocNode:Sid': 'localhost:18960',
    });
  });

  it('quotes any word for bash', () => {
    for (const word of [`it's`, '$HOME `id` "x"', 'a\nb', '']) {
      expect(execFileSync('bash', ['-c', `printf %s ${shellQuote(word)}`], { encoding: 'utf8' })).toBe(word);
    }
  });
});

describe('Slurm output', () => {
  const row = '1|sy-test1|FAILED|NonZeroExitCode|0:02|1:00|2026-11-27T22:27:53|2026-11-27T22:27:55|debug|sy1|768|1|1|/w/jobs/test1/job.sh|test1|1|';

  it('reads squeue lines, and says which lines it does not understand instead of throwing', () => {
    const lines = parseSqueue(
      [
        row,
        '4|sy-x|PENDING|Resources|0:00|1:00|N/A|N/A|debug|||1|1|(null)|(null)|4|',
        '7|sy-y|RUNNING|None|soon|1:00|N/A|N/A|debug|sy1|0|1|1|/a|b|7|',
        '9|short|line',
        '',
      ].join('\n'),
    );
    expect(lines).toHaveLength(4);
    expect(lines[0]?.job).toEqual({
      slurmJobId: '1',
      rawJobId: '1',
      name: 'sy-test1',
      state: 'FAILED',
      reason: 'NonZeroExitCode',
      elapsedSeconds: 2,
      timeLimitSeconds: 60,
      startTime: new Date(2026, 10, 27, 22, 27, 53).getTime(),
      endTime: new Date(2026, 10, 27, 22, 27, 55).getTime(),
      partition: 'debug',
      nodeList: 'sy1',
      exitCode: '3:0',
      tasks: 1,
      cpus: 1,
      command: '/w/jobs/test1/job.sh',
      comment: 'test1',
    });
    expect(lines[1]?.job).toMatchObject({
      state: 'PENDING',
      reason: 'Resources',
      nodeList: null,
      exitCode: null,
      command: null,
      comment: null,
      startTime: null,
    });
    expect(lines[2]).toMatchObject({ slurmJobId: '7', job: null, problem: 'could not read time used "soon"' });
    expect(lines[3]).toMatchObject({ slurmJobId: '9', job: null, problem: `expected ${SQUEUE_FIELDS.length} fields, got 2` });
  });

  it('reads sacct records, the last of a job winning and steps left out', () => {
    const jobs = parseSacct(
      [
        '5|sy-a|PENDING|0:0|0|Unknown|Unknown|debug|None assigned',
        '5|sy-a|CANCELLED by 0|0:15|3|2026-11-27T22:29:12|2026-11-27T22:29:15|debug|sy1',
        '5.batch|batch|CANCELLED|0:15|3|||debug|sy1',
      ].join('\n'),
    );
    expect([...jobs.keys()]).toEqual(['5']);
    expect(jobs.get('5')).toMatchObject({ state: 'CANCELLED', exitCode: '0:15', elapsedSeconds: 3, nodeList: 'sy1' });
  });

  it('reads sinfo nodes and scontrol partitions', () => {
    const { nodes, problems } = parseSinfoNodes('sy1|debug*|mixed|1/3/0/4|4000|896|\nsy1|long|mixed|1/3/0/4|4000|896|\nnonsense\n');
    expect(problems).toEqual(['nonsense']);
    expect(nodes[0]).toEqual({
      node: 'sy1',
      partition: 'debug',
      state: 'mixed',
      allocatedCpus: 1,
      idleCpus: 3,
      otherCpus: 0,
      totalCpus: 4,
      memoryMb: 4000,
      allocatedMemoryMb: 896,
    });
    const [debug] = parsePartitions(
      'PartitionName=debug AllowGroups=ALL Default=YES DefaultTime=01:00:00 MaxTime=1-00:00:00 Nodes=sy1 State=UP TotalCPUs=4 TotalNodes=1\n',
    );
    expect(debug).toEqual({
      name: 'debug',
      state: 'UP',
      isDefault: true,
      maxTimeSeconds: 86_400,
      defaultTimeSeconds: 3600,
      nodes: 'sy1',
      totalCpus: 4,
      totalNodes: 1,
    });
  });
});

describe('Slurm commands', () => {
  it('kills a command that hangs, with everything it started, and names it', async () => {
    const cli = createSlurmCli({ timeoutMs: 300 });
    const began = Date.now();
    // A stand-in for a hanging Slurm command: a shell whose child keeps the output open.
    await expect(cli.run('sh', ['-c', 'sleep 30 & sleep 30'])).rejects.toMatchObject({
      name: 'SlurmCommandError',
      code: 'PROVIDER_UNAVAILABLE',
      timedOut: true,
      message: 'Slurm command `sh -c sleep 30 & sleep 30` did not answer within 300 ms and was killed',
    });
    expect(Date.now() - began).toBeLessThan(2_000);
  });

  it('reports a failing command with its exit code and error output, and a missing one as not installed', async () => {
    const cli = createSlurmCli({ slurmConf: '/nowhere/slurm.conf' });
    expect(cli.env.SLURM_CONF).toBe('/nowhere/slurm.conf');
    await expect(cli.run('sh', ['-c', 'echo "sbatch: error: Batch job submission failed" >&2; exit 1'])).rejects.toMatchObject({
      exitCode: 1,
      message:
        'Slurm command `sh -c echo "sbatch: error: Batch job submission failed" >&2; exit 1` failed with exit code 1: sbatch: error: Batch job submission failed',
    });
    await expect(cli.run('no-such-slurm-command', [])).rejects.toThrow(/no-such-slurm-command is not installed or not on PATH/);
    expect(await cli.run('sh', ['-c', 'echo "$SLURM_CONF"'])).toEqual({ stdout: '/nowhere/slurm.conf\n', stderr: '' });
  });
});
