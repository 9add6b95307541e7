/**
 * Job records on disk: a restarted provider reads the records an earlier
 * version wrote (these are byte for byte what the driver before the SDK's job
 * book saved), through the job book it keeps them in now.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import { createJobBook, type DriverContext, type DriverJobChange } from '../sdk/index.js';
import { slurmJob, slurmJobRecordSchema, type SlurmJob, type SlurmJobRecord } from './slurm-records.js';

/** As the earlier driver saved a job sbatch took, and one it was about to submit (no Slurm id yet). */
/** What a record from before job arrays reads as: submitted alone. */
const BEFORE_ARRAYS = { array: null, taskJobId: null };
const SUBMITTED =
  '{"v":1,"id":"job-a","slurmJobId":"4242","state":"RUNNING","status":"Running on sy1 (Slurm job 4242)","exitCode":null,"startedAt":1796000000000,"expiresAt":1796003600000,"productId":"slurm-debug","replicas":2,"unitSeconds":3600,"usageUnits":2,"ending":null,"endingReason":null,"offsets":{"rank-0.out":12,"batch.err":0},"slurm":{"state":"RUNNING","reason":null,"partition":"debug","nodeList":"sy1","elapsedSeconds":40,"exitCode":null,"timeLimitSeconds":3600},"account":{"uid":65534,"gid":65534,"name":"nobody"}}';
const PENDING =
  '{"v":1,"id":"job-b","slurmJobId":null,"state":"IN_QUEUE","status":"Submitting to Slurm","exitCode":null,"startedAt":null,"expiresAt":null,"productId":"slurm-debug","replicas":1,"unitSeconds":3600,"usageUnits":0,"ending":null,"endingReason":null,"offsets":{},"slurm":{"state":"PENDING","reason":null,"partition":"debug","nodeList":null,"elapsedSeconds":null,"exitCode":null,"timeLimitSeconds":3600}}';

describe('Slurm job records written by the earlier driver', () => {
  let dir: string;
  const emitted: Array<[string, DriverJobChange]> = [];
  const context: DriverContext = {
    providerId: 'slurm',
    clock: systemClock,
    logger: silentLogger(),
    emit: (jobId, change) => emitted.push([jobId, change]),
    log: () => undefined,
  };
  const book = () =>
    createJobBook<SlurmJobRecord, SlurmJob>({
      context: () => context,
      files: { dir: () => dir, schema: slurmJobRecordSchema },
      providerGeneratedId: (job) => job.record.slurmJobId,
      apply: (record, update) => {
        if (update.usageUnits !== undefined) record.usageUnits = update.usageUnits;
      },
    });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('read as they were written, the account of a record from before accounts null, the launch of one from before sessions, and the array of one from before arrays', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-slurm-records-'));
    writeFileSync(join(dir, 'job-a.json'), SUBMITTED);
    writeFileSync(join(dir, 'job-b.json'), PENDING);
    const records = (await book().readAll()).sort((a, b) => a.id.localeCompare(b.id));
    expect(records).toEqual([
      { ...JSON.parse(SUBMITTED), launch: null, ...BEFORE_ARRAYS },
      { ...JSON.parse(PENDING), account: null, launch: null, ...BEFORE_ARRAYS },
    ]);
  });

  it('answer a retried submission whether there is a record, and whether it reads; go when the submission failed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-slurm-records-'));
    writeFileSync(join(dir, 'job-b.json'), PENDING);
    writeFileSync(join(dir, 'job-c.json'), '{"v":1,"id":"job-c","slurmJ');
    const jobs = book();
    expect(await jobs.readSaved('job-b')).toEqual({ record: { ...JSON.parse(PENDING), account: null, launch: null, ...BEFORE_ARRAYS } });
    expect(await jobs.readSaved('job-c')).toEqual({ record: null });
    expect(await jobs.readSaved('job-d')).toBeNull();
    await jobs.discard('job-b');
    expect(readdirSync(dir).sort()).toEqual(['job-c.json']);
  });

  it('take the provider id from slurmJobId, the usage from a change, and are saved again in the same form', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-slurm-records-'));
    writeFileSync(join(dir, 'job-a.json'), SUBMITTED);
    const first = book();
    const [record] = await first.readAll();
    const job = slurmJob(record!, join(dir, 'job-a'));
    first.set(job);
    expect(first.observe('job-a')).toMatchObject({ state: 'RUNNING', providerGeneratedId: '4242' });
    first.change(job, { state: 'SUCCESS', exitCode: 0, usageUnits: 4 });
    await first.flush();
    expect(emitted.at(-1)).toEqual(['job-a', { state: 'SUCCESS', exitCode: 0, usageUnits: 4 }]);
    const [again] = await book().readAll();
    // When it ended comes with it, as reconciliation tells the gateway (its observation says so too).
    const { endedAt } = first.observe('job-a');
    expect(endedAt).toEqual(expect.any(Number));
    expect(again).toEqual({ ...JSON.parse(SUBMITTED), launch: null, ...BEFORE_ARRAYS, state: 'SUCCESS', exitCode: 0, usageUnits: 4, endedAt });
  });
});
