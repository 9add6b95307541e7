/**
 * Usage over time through the API, over real NATS and Redis: a project whose
 * jobs ran at known times (stored as the gateway stores them, on the gateway's
 * injected clock, which starts from the real now) reads its CPU- and
 * memory-hours per hour and per day, per provider, beside its quotas and its
 * virtual cluster; a job still running counts until the gateway's now, an
 * ended one not after its end; a job run for real through the local provider
 * counts its own run; outsiders are FORBIDDEN and a bad range is INVALID_INPUT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createManualClock } from '../shared/clock.js';
import type { Job, JobState } from '../shared/domain.js';
import { waitForState } from './support/graphql-client.js';
import { makeJob, makeSpecification } from './support/jobs.js';
import { errorCode, LOCAL_SMALL, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const HOUR = 3_600_000;
// The real now, on an hour: buckets line up whatever the time of day.
const clock = createManualClock(Math.floor(Date.now() / HOUR) * HOUR);
const t0 = clock.now();
const HISTORY = `query ($p: ID, $f: DateTime!, $t: DateTime!, $b: UsageBucketSize!, $provider: String) {
  usageHistory(project: $p, from: $f, to: $t, bucket: $b, provider: $provider) {
    project from to bucket partial
    providers { provider virtualCluster { guaranteed { cpu } } quotas { maxCpu } buckets { start cpuHours memoryGigHours gpuHours jobs } }
  }
}`;

let env: TenancyGateway;

beforeAll(async () => {
  env = await startTenancyGateway({ clock });
});
afterAll(async () => {
  await env?.stop();
});

/** A job of `project` on local-small (1 CPU, 1 GB) whose state changed at these times. */
function storedJob(project: string, changes: [JobState, number][]): Job {
  return makeJob({
    owner: { createdBy: 'uh-pi', project },
    specification: makeSpecification({ product: { id: 'local-small', category: 'local-cpu', provider: 'local' } }),
    state: changes.at(-1)![0],
    startedAt: changes.find(([state]) => state === 'RUNNING')?.[1] ?? null,
    createdAt: changes[0]![1],
    updates: changes.map(([state, timestamp]) => ({ state, status: null, newTimeAllocation: null, timestamp })),
  });
}

describe('usage over time', () => {
  it("buckets a project's known jobs per hour and per day, with its share and quotas, and refuses outsiders and bad ranges", async () => {
    const pi = await env.user('uh-pi');
    const stranger = await env.user('uh-stranger');
    await env.admin.ok(`mutation { createProject(id: "uh-proj", title: "History", pi: "uh-pi") { id } }`);
    await env.admin.ok(`mutation { setVirtualCluster(cluster: { project: "uh-proj", provider: "local", guaranteed: { cpu: 2 } }) { project } }`);
    await env.admin.ok(`mutation { setQuota(quota: { project: "uh-proj", maxCpu: 4 }) { maxCpu } }`);
    // Ran 90 minutes, from half past the first hour; still running since 2 h (until the gateway's now, 4 h); never ran.
    const jobs = [
      storedJob('uh-proj', [
        ['IN_QUEUE', t0],
        ['RUNNING', t0 + HOUR / 2],
        ['SUCCESS', t0 + 2 * HOUR],
      ]),
      storedJob('uh-proj', [
        ['IN_QUEUE', t0 + HOUR],
        ['RUNNING', t0 + 2 * HOUR],
      ]),
      storedJob('uh-proj', [
        ['IN_QUEUE', t0],
        ['FAILURE', t0 + HOUR],
      ]),
    ];
    for (const job of jobs) expect(await env.store.createJob(job, { exclusive: false })).toEqual({ created: true });
    clock.set(t0 + 4 * HOUR);

    const range = { p: 'uh-proj', f: new Date(t0).toISOString(), t: new Date(t0 + 6 * HOUR).toISOString() };
    const hourly = (await pi.ok(HISTORY, { ...range, b: 'HOUR' })).usageHistory;
    expect(hourly).toMatchObject({ project: 'uh-proj', from: range.f, to: range.t, bucket: 'HOUR', partial: false });
    expect(hourly.providers).toHaveLength(1);
    const [local] = hourly.providers;
    expect(local.provider).toBe('local');
    expect(local.virtualCluster).toEqual({ guaranteed: { cpu: 2 } });
    expect(local.quotas).toEqual([{ maxCpu: 4 }]);
    expect(local.buckets.map((b: { start: string }) => b.start)).toEqual([0, 1, 2, 3, 4, 5].map((k) => new Date(t0 + k * HOUR).toISOString()));
    expect(local.buckets.map((b: { cpuHours: number; jobs: number }) => [b.cpuHours, b.jobs])).toEqual([
      [0.5, 1],
      [1, 1],
      [1, 1],
      [1, 1],
      [0, 0],
      [0, 0],
    ]);
    const daily = (await pi.ok(HISTORY, { ...range, b: 'DAY' })).usageHistory.providers[0].buckets;
    expect(daily).toEqual([{ start: range.f, cpuHours: 3.5, memoryGigHours: 3.5, gpuHours: 0, jobs: 2 }]);
    // The gateway's clock moves on: the running job counts one more hour, the ended one nothing more.
    clock.advance(HOUR);
    const later = (await pi.ok(HISTORY, { ...range, b: 'HOUR' })).usageHistory.providers[0].buckets;
    expect(later.map((b: { cpuHours: number }) => b.cpuHours)).toEqual([0.5, 1, 1, 1, 1, 0]);
    // One provider asked for: only it, listed even when nothing ran there.
    const elsewhere = (await pi.ok(HISTORY, { ...range, b: 'HOUR', provider: 'nowhere' })).usageHistory.providers;
    expect(elsewhere.map((p: { provider: string; buckets: { jobs: number }[] }) => [p.provider, p.buckets.every((b) => b.jobs === 0)])).toEqual([
      ['nowhere', true],
    ]);

    expect(errorCode(await stranger.gql(HISTORY, { ...range, b: 'HOUR' }))).toBe('FORBIDDEN');
    expect(errorCode(await pi.gql(HISTORY, { ...range, t: range.f, b: 'HOUR' }))).toBe('INVALID_INPUT');
    expect(errorCode(await pi.gql(HISTORY, { ...range, t: new Date(t0 + 1_001 * HOUR).toISOString(), b: 'HOUR' }))).toBe('INVALID_INPUT');
  });

  it('counts a job run through the local provider for the time it ran', async () => {
    // The provider keeps the real clock: the gateway's is set to it, then moved on past the job's end.
    clock.set(Date.now());
    const user = await env.user('uh-runner');
    const data = await user.ok(`mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { message } } }`, {
      s: [{ product: LOCAL_SMALL, command: ['sleep', '1'], allowDuplicateJob: true }],
    });
    const job = await waitForState(user, data.createJobs[0].job.id, ['SUCCESS'], 20_000);
    const started = Date.parse(job.state.startedAt);
    const ended = Date.parse(job.updates.at(-1).timestamp);
    clock.set(ended + HOUR);
    const from = Math.floor(started / HOUR) * HOUR;
    const history = (await user.ok(HISTORY, { f: new Date(from).toISOString(), t: new Date(from + 2 * HOUR).toISOString(), b: 'HOUR' })).usageHistory;
    expect(history.project).toBeNull();
    const buckets = history.providers.find((p: { provider: string }) => p.provider === 'local').buckets;
    const total = buckets.reduce((sum: number, b: { cpuHours: number }) => sum + b.cpuHours, 0);
    expect(total).toBeCloseTo((ended - started) / HOUR, 5);
    expect(total).toBeGreaterThan(0);
  });
});
