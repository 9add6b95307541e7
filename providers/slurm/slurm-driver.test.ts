/**
 * The Slurm driver against a real Slurm cluster, through the real provider
 * runtime on the in-process bus. The cluster is the one deploy/slurm/slurm-up.sh
 * starts (.ci/run does, and exports SLURM_CONF); without it these tests fail
 * and say how to start it. Each test works in a directory of its own and
 * cancels every Slurm job it submitted.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { stitchSchemas } from '@graphql-tools/stitch';
import { stitchingDirectives } from '@graphql-tools/stitching-directives';
import { graphql, isObjectType } from 'graphql';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createBaseSchema } from '../../gateway/graphql/yoga.js';
import { checkSubschema } from '../../gateway/stitching/subschema-check.js';
import type { JobSpecification, Product } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import { jobEventSchema, logEventSchema, type JobEvent, type LogEvent } from '../../shared/protocol.js';
import { createSubjects, type ProviderVerb } from '../../shared/subjects.js';
import type { Closable } from '../../shared/transport.js';
import { createMemoryTransport, type MemoryTransport } from '../../shared/transport/memory-transport.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import { uniquePrefix } from '../../test/support/services.js';
import type { Driver } from '../sdk/driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../sdk/runtime.js';
import { createSlurmCli, parseSqueue, SQUEUE_FORMAT } from './slurm-cli.js';
import { createSlurmDriver, type SlurmDriverOptions } from './slurm-driver.js';

const PROVIDER = 'slurm';
const POLL_MS = 300;
const NOBODY = 65534;
const SLURM_CONF = process.env.SLURM_CONF;
const cli = createSlurmCli({ slurmConf: SLURM_CONF, timeoutMs: 10_000 });

async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Slurm's own view of one job (squeue -t all). */
async function squeueJob(slurmJobId: string) {
  const { stdout } = await cli.run('squeue', ['-h', '-t', 'all', '--jobs', slurmJobId, '-O', SQUEUE_FORMAT]);
  return parseSqueue(stdout).find((line) => line.slurmJobId === slurmJobId)?.job ?? null;
}

/** Cancel every job whose batch script lies in `dir`, and wait until they are gone from the running states. */
async function cancelJobsIn(dir: string): Promise<void> {
  const list = async () => {
    // Every user's: the provider submits its jobs for unprivileged accounts.
    // An array task by its task id: scancel refuses a running task's own numeric id.
    const { stdout } = await cli.run('squeue', ['-h', '-r', '-t', 'PD,R,S,CG,CF', '-O', 'JobArrayID:|,Command:|']);
    return stdout
      .split('\n')
      .map((line) => line.split('|'))
      .flatMap(([id, command]) => (id && command?.includes(dir) ? [id.trim()] : []));
  };
  const ids = await list();
  if (ids.length === 0) return;
  await cli.run('scancel', ids);
  await waitFor(async () => (await list()).length === 0, `jobs ${ids.join(', ')} to be cancelled`, 20_000);
}

/** One provider on the in-process bus, with everything it publishes collected from the durable consumer. */
async function harness(workDir: string) {
  const transport: MemoryTransport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const events: JobEvent[] = [];
  const logs: LogEvent[] = [];
  const consumer = await transport.consumeDurable(async (body, subject) => {
    if (subject.includes('.events.')) events.push(jobEventSchema.parse(body));
    else logs.push(logEventSchema.parse(body));
  });
  const closables: Closable[] = [consumer];
  let runtime: ProviderRuntime | null = null;
  let driver: Driver | null = null;

  const start = async (overrides: Partial<SlurmDriverOptions> = {}, logger = silentLogger()) => {
    driver = createSlurmDriver({ workDir, slurmConf: SLURM_CONF, pollIntervalMs: POLL_MS, ...overrides });
    runtime = createProviderRuntime({ transport, driver, id: PROVIDER, kind: 'SLURM', version: '0.1.0', logger });
    await runtime.start();
    return { runtime, driver };
  };
  const stop = async () => {
    await runtime?.stop();
    runtime = null;
  };

  const call = (verb: ProviderVerb, body: object) =>
    transport.request(transport.subjects.providerCall(PROVIDER, verb), { v: 1, ...body }, { timeoutMs: 20_000 }) as Promise<any>;
  const products = async (): Promise<Product[]> => (await call('manifest', {})).result.products;
  const product = async (id = 'slurm-debug') => (await products()).find((p) => p.id === id)!;
  const job = (p: Product, spec: Partial<JobSpecification>) => makeCreateJob(p, PROVIDER, spec);
  /** Create jobs; answers their Slurm ids. */
  const create = async <J extends ReturnType<typeof job>[]>(...jobs: J): Promise<{ [K in keyof J]: string }> => {
    const reply = await call('jobs.create', { jobs });
    expect(reply).toMatchObject({ ok: true });
    for (const result of reply.result.results)
      // A job of its own (`123`), or a task of a job array (`123_4`).
      expect(result).toMatchObject({ ok: true, error: null, providerGeneratedId: expect.stringMatching(/^\d+(_\d+)?$/) });
    // One result per job, checked above: the tuple has the jobs' length.
    return reply.result.results.map((r: { providerGeneratedId: string }) => r.providerGeneratedId) as { [K in keyof J]: string };
  };

  const eventsOf = (jobId: string) => events.filter((e) => e.jobId === jobId);
  const linesOf = (jobId: string) => logs.filter((l) => l.jobId === jobId).flatMap((l) => l.lines);
  const stdoutOf = (jobId: string, rank?: number) =>
    linesOf(jobId)
      .filter((line) => line.stdout !== null && (rank === undefined || line.rank === rank))
      .map((line) => line.stdout);
  const stateOf = (jobId: string) =>
    eventsOf(jobId)
      .filter((e) => e.state !== null)
      .at(-1)?.state ?? null;
  const reach = (jobId: string, state: string, timeoutMs = 20_000) =>
    waitFor(
      () => eventsOf(jobId).find((e) => e.state === state),
      `job ${jobId} to be ${state} (events: ${JSON.stringify(eventsOf(jobId).map((e) => [e.state, e.status]))})`,
      timeoutMs,
    );
  const final = (jobId: string, timeoutMs = 30_000) =>
    waitFor(
      () => eventsOf(jobId).find((e) => e.state === 'SUCCESS' || e.state === 'FAILURE' || e.state === 'EXPIRED'),
      `job ${jobId} to end`,
      timeoutMs,
    );

  const close = async () => {
    await stop();
    for (const closable of closables) await closable.close();
    await transport.close();
  };
  return {
    transport,
    events,
    logs,
    start,
    stop,
    call,
    products,
    product,
    job,
    create,
    eventsOf,
    linesOf,
    stdoutOf,
    stateOf,
    reach,
    final,
    close,
    get driver() {
      return driver!;
    },
  };
}

type Harness = Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  if (!SLURM_CONF) {
    throw new Error(
      'SLURM_CONF is not set. These tests need the real Slurm cluster: run `bash deploy/slurm/slurm-up.sh`, then ' +
        '`set -a; . /tmp/switchyard-slurm/slurm.env; set +a` (.ci/run does both).',
    );
  }
  try {
    await cli.run('sinfo', ['-h', '-o', '%P %t']);
  } catch (error) {
    throw new Error(`sinfo fails with SLURM_CONF=${SLURM_CONF}; is the cluster up? (bash deploy/slurm/slurm-up.sh): ${(error as Error).message}`, {
      cause: error,
    });
  }
});

describe.sequential('Slurm driver on a real cluster', () => {
  let workDir: string;
  let h: Harness;
  const extraDirs: string[] = [];

  const setUp = async () => {
    workDir = await mkdtemp(join(tmpdir(), 'sy-slurm-test-'));
    h = await harness(workDir);
  };

  afterEach(async () => {
    await h?.close();
    for (const dir of [workDir, ...extraDirs.splice(0)]) {
      await cancelJobsIn(dir);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs a job under Slurm: its output arrives as log lines and it ends SUCCESS with its exit code; exit 3 is SUCCESS with 3', async () => {
    await setUp();
    await h.start();
    const debug = await h.product();
    expect(debug).toMatchObject({
      id: 'slurm-debug',
      category: 'slurm-cpu',
      cpu: 1,
      unitOfPrice: 'CREDITS_PER_HOUR',
      support: { logs: true, terminal: true, web: true, vnc: false },
    });
    expect((await h.products()).map((p) => p.id).sort()).toEqual(['slurm-debug', 'slurm-long']);

    const ok = h.job(debug, { command: ['sh', '-c', 'echo hello; echo "from $SWITCHYARD_JOB_ID"; echo oops >&2'] });
    const three = h.job(debug, { command: ['sh', '-c', 'echo bye; exit 3'] });
    const [okSlurmId, threeSlurmId] = await h.create(ok, three);

    const done = await h.final(ok.id);
    expect(done).toMatchObject({ state: 'SUCCESS', exitCode: 0, status: 'Job finished with exit code 0' });
    expect(done.usageUnits).toBe(1);
    expect(h.stdoutOf(ok.id)).toEqual(['hello', `from ${ok.id}`]);
    expect(
      h
        .linesOf(ok.id)
        .filter((l) => l.stderr !== null)
        .map((l) => [l.rank, l.stderr]),
    ).toEqual([[0, 'oops']]);
    expect(h.eventsOf(ok.id)[0]).toMatchObject({
      state: 'IN_QUEUE',
      providerGeneratedId: okSlurmId,
      status: expect.stringContaining(`Slurm as job ${okSlurmId}`),
    });

    const failed = await h.final(three.id);
    expect(failed).toMatchObject({ state: 'SUCCESS', exitCode: 3, status: 'Job finished with exit code 3' });
    expect(h.stdoutOf(three.id)).toEqual(['bye']);

    // Slurm agrees, and says so through the subschema.
    expect(await squeueJob(threeSlurmId)).toMatchObject({ state: 'FAILED', exitCode: '3:0', name: `sy-${three.id}`, comment: three.id });
    const { typeDefs, resolvers } = h.driver.subschema!();
    const { stitchingDirectivesTypeDefs, stitchingDirectivesTransformer } = stitchingDirectives();
    const schema = makeExecutableSchema({ typeDefs: [stitchingDirectivesTypeDefs, typeDefs], resolvers: resolvers as never });
    const result = await graphql({
      schema,
      source: `query($ids: [ID!]!, $providers: [ID!]!) {
        _slurmJobs(ids: $ids) { id slurm { jobId partition nodeList pendingReason elapsedSeconds exitCode state timeLimit } }
        _slurmProviders(ids: $providers) { id slurmPartitions { name state totalCpus idleCpus allocatedCpus nodes maxTime default } }
      }`,
      variableValues: { ids: [three.id, 'not-a-job-of-ours'], providers: [PROVIDER, 'another-provider'] },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      _slurmJobs: [
        {
          id: three.id,
          slurm: {
            jobId: threeSlurmId,
            partition: 'debug',
            nodeList: expect.any(String),
            pendingReason: null,
            elapsedSeconds: expect.any(Number),
            exitCode: '3:0',
            state: 'FAILED',
            timeLimit: '01:00:00',
          },
        },
        null,
      ],
      _slurmProviders: [
        {
          id: PROVIDER,
          slurmPartitions: [
            {
              name: 'debug',
              state: 'UP',
              totalCpus: 4,
              idleCpus: expect.any(Number),
              allocatedCpus: expect.any(Number),
              nodes: expect.any(String),
              maxTime: '1-00:00:00',
              default: true,
            },
            {
              name: 'long',
              state: 'UP',
              totalCpus: 4,
              idleCpus: expect.any(Number),
              allocatedCpus: expect.any(Number),
              nodes: expect.any(String),
              maxTime: '7-00:00:00',
              default: false,
            },
          ],
        },
        null,
      ],
    });
    // The gateway accepts it, and it stitches into the contract by type merging.
    const contract = createBaseSchema();
    expect(checkSubschema(`${stitchingDirectivesTypeDefs}\n${typeDefs}`, 'SLURM', contract)).toHaveProperty('schema');
    const stitched = stitchSchemas({ subschemas: [{ schema: contract }, { schema }], subschemaConfigTransforms: [stitchingDirectivesTransformer] });
    const jobType = stitched.getType('Job');
    expect(isObjectType(jobType) && Object.keys(jobType.getFields())).toContain('slurm');

    // A repeated create of the same id submits nothing new.
    expect(await h.create(three)).toEqual([threeSlurmId]);
    // observe answers from Slurm's view; unknown ids are unknown.
    const observed = await h.call('jobs.reconcile', { ids: [ok.id, 'never-heard-of-it'] });
    expect(observed.result.jobs).toEqual([
      expect.objectContaining({ id: ok.id, state: 'SUCCESS', exitCode: 0, providerGeneratedId: okSlurmId }),
      { id: 'never-heard-of-it', state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null },
    ]);
  });

  it('submits jobs for an unprivileged account, nobody or the user’s mapped one, never root; a job’s output is its account’s alone', async () => {
    await setUp();
    const daemon = Number(execFileSync('getent', ['passwd', 'daemon'], { encoding: 'utf8' }).split(':')[2]);
    await h.start({ userAccounts: { bob: 'daemon' } });
    const debug = await h.product();
    const jobsDir = join(workDir, 'jobs');
    // alice is not mapped: nobody.
    const alice = h.job(debug, {
      command: ['sh', '-c', `id -u; echo alice-private; ls ${jobsDir} > /dev/null 2>&1 && echo listed || echo cannot-list`],
    });
    const [aliceSlurmId] = await h.create(alice);
    expect(await h.final(alice.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(h.stdoutOf(alice.id)).toEqual([String(NOBODY), 'alice-private', 'cannot-list']);
    expect((await cli.run('squeue', ['-h', '-t', 'all', '-j', aliceSlurmId, '-o', '%U'])).stdout.trim()).toBe(String(NOBODY));
    const dir = statSync(join(jobsDir, alice.id));
    expect([dir.uid, dir.mode & 0o777]).toEqual([NOBODY, 0o700]);
    expect(statSync(jobsDir).mode & 0o777).toBe(0o711);

    // bob is mapped to daemon, and cannot read what alice's job wrote.
    const bob = {
      ...h.job(debug, { command: ['sh', '-c', `id -u; cat ${jobsDir}/${alice.id}/rank-0.out || echo cannot-read`] }),
      owner: { createdBy: 'bob', project: null },
    };
    await h.create(bob);
    expect(await h.final(bob.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(h.stdoutOf(bob.id)).toEqual([String(daemon), 'cannot-read']);
    const { resolvers } = h.driver.subschema!();
    const details = await (resolvers as any).Query._slurmJobs(null, { ids: [alice.id, bob.id] });
    expect(details.map((d: { slurm: { uid: number } }) => d.slurm.uid)).toEqual([NOBODY, daemon]);

    // Its working directory may not be in the provider's work directory; root is never an account.
    const refused = await h.call('jobs.create', { jobs: [h.job(debug, { command: ['true'], workingDir: join(jobsDir, alice.id) })] });
    expect(refused.result.results[0]).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining("in the Slurm provider's work directory") },
    });
    await h.stop();
    await expect(h.start({ jobAccount: 'root' })).rejects.toThrow(/jobs never run as root/);
  });

  it('passes on only the job’s own output: a link to a root-only file, or a FIFO, in its directory is not read', async () => {
    await setUp();
    await h.start();
    const secret = `root-only-${randomUUID()}`;
    const secretFile = join(workDir, 'secret.txt');
    await writeFile(secretFile, secret, { mode: 0o600 });
    // The job's directory is its account's: it can replace its output file by a link, and add a FIFO that would block a reader.
    const script = `echo before; sleep 1; ln -s ${secretFile} link && mv -f link rank-0.out; mkfifo rank-7.err; sleep 2; echo after`;
    const created = h.job(await h.product(), { command: ['sh', '-c', script] });
    await h.create(created);
    expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(h.stdoutOf(created.id)).toContain('before');
    expect(JSON.stringify(h.linesOf(created.id))).not.toContain(secret);
  });

  it('runs replicas as srun ranks, each with its own output, environment and safely quoted arguments', async () => {
    await setUp();
    await h.start();
    const debug = await h.product();
    const tricky = `it's "quoted" $HOME; \`x\``;
    const created = h.job(debug, {
      replicas: 2,
      env: { GREETING: 'hello world' },
      command: [
        'sh',
        '-c',
        'echo "rank=$SWITCHYARD_RANK of $SWITCHYARD_REPLICAS $GREETING"; echo "$1"; echo "err $SWITCHYARD_RANK" >&2',
        'sh',
        tricky,
      ],
    });
    await h.create(created);
    expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0, usageUnits: 2 });
    expect(h.stdoutOf(created.id, 0)).toEqual(['rank=0 of 2 hello world', tricky]);
    expect(h.stdoutOf(created.id, 1)).toEqual(['rank=1 of 2 hello world', tricky]);
    expect(
      h
        .linesOf(created.id)
        .filter((l) => l.stderr !== null)
        .map((l) => [l.rank, l.stderr])
        .sort(),
    ).toEqual([
      [0, 'err 0'],
      [1, 'err 1'],
    ]);
  });

  it('suspends and resumes a job in Slurm and in its events; extend moves the time limit and expiresAt', async () => {
    await setUp();
    await h.start();
    const created = h.job(await h.product(), { command: ['sh', '-c', 'echo started; sleep 60'], timeAllocationMs: 5 * 60_000 });
    const [slurmId] = await h.create(created);
    const running = await h.reach(created.id, 'RUNNING');
    expect(running.startedAt).toEqual(expect.any(Number));
    expect(running.expiresAt! - running.startedAt!).toBe(5 * 60_000);
    expect((await squeueJob(slurmId))?.timeLimitSeconds).toBe(300);

    expect((await h.call('jobs.suspend', { ids: [created.id] })).result.results).toEqual([{ ok: true, error: null }]);
    expect((await squeueJob(slurmId))?.state).toBe('SUSPENDED');
    await h.reach(created.id, 'SUSPENDED');
    const suspendedFor = 2_000;
    await new Promise((r) => setTimeout(r, suspendedFor));
    // Resuming twice at once: one resumes it, the other is refused, as it is no longer suspended
    // (the runtime runs the two side by side, so either may come first).
    const twice = (await h.call('jobs.unsuspend', { ids: [created.id, created.id] })).result.results;
    expect([...twice].sort((a: { ok: boolean }, b: { ok: boolean }) => Number(b.ok) - Number(a.ok))).toEqual([
      { ok: true, error: null },
      { ok: false, error: { code: 'INVALID_STATE', message: expect.any(String) } },
    ]);
    expect((await squeueJob(slurmId))?.state).toBe('RUNNING');
    const resumed = await waitFor(() => h.eventsOf(created.id).find((e) => e.state === 'RUNNING' && e.status === 'Job resumed'), 'the resume event');
    // Slurm does not count suspended time against the limit: the deadline moved with it.
    expect(resumed.expiresAt! - running.expiresAt!).toBeGreaterThanOrEqual(suspendedFor - 1_000);

    const extended = await h.call('jobs.extend', { items: [{ id: created.id, addMs: 90_000 }] });
    expect(extended.result.results[0]).toMatchObject({ ok: true, error: null });
    // Rounded up to whole minutes: 90 s → 2 minutes.
    expect((await squeueJob(slurmId))?.timeLimitSeconds).toBe(7 * 60);
    expect(extended.result.results[0].expiresAt - resumed.expiresAt!).toBe(2 * 60_000);
    const shown = await cli.run('scontrol', ['show', 'job', '-o', slurmId]);
    expect(shown.stdout).toContain('TimeLimit=00:07:00');
  });

  it('terminates a job with scancel: SUCCESS with the reason in its status', async () => {
    await setUp();
    await h.start();
    const debug = await h.product();
    const created = h.job(debug, { command: ['sleep', '120'] });
    const [slurmId] = await h.create(created);
    await h.reach(created.id, 'RUNNING');
    expect((await h.call('jobs.terminate', { ids: [created.id], reason: 'No more credits' })).result.results).toEqual([{ ok: true, error: null }]);
    await h.reach(created.id, 'CANCELING');
    expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated (No more credits)' });
    expect((await squeueJob(slurmId))?.state).toBe('CANCELLED');
    expect((await h.call('jobs.terminate', { ids: [created.id] })).result.results[0]).toMatchObject({ ok: false, error: { code: 'INVALID_STATE' } });

    // Cancelled by someone else: not our doing, so FAILURE.
    const other = h.job(debug, { command: ['sleep', '120'] });
    const [otherSlurmId] = await h.create(other);
    await h.reach(other.id, 'RUNNING');
    await cli.run('scancel', [otherSlurmId]);
    expect(await h.final(other.id)).toMatchObject({ state: 'FAILURE', status: 'Cancelled outside Switchyard' });
  });

  it('keeps the jobs that do not fit IN_QUEUE with Slurm’s reason, and says so in utilization', async () => {
    await setUp();
    await h.start();
    const debug = await h.product();
    const before = (await h.call('utilization', {})).result;
    const fit = before.capacityByProduct['slurm-debug'];
    expect(fit).toBeGreaterThan(0);
    expect(before.capacity.cpu).toBe(4);

    const jobs = Array.from({ length: fit + 1 }, () => h.job(debug, { command: ['sleep', '120'] }));
    await h.create(...jobs);
    await waitFor(() => jobs.filter((j) => h.stateOf(j.id) === 'RUNNING').length === fit, `${fit} jobs to run`);
    const waiting = jobs.filter((j) => h.stateOf(j.id) === 'IN_QUEUE');
    expect(waiting).toHaveLength(1);
    const status = await waitFor(
      () => h.eventsOf(waiting[0]!.id).find((e) => e.status?.startsWith('Waiting in the Slurm queue'))?.status,
      'the pending reason',
    );
    expect(status).toMatch(/^Waiting in the Slurm queue \((Resources|Priority)/);

    const after = (await h.call('utilization', {})).result;
    expect(after.capacityByProduct['slurm-debug']).toBe(0);
    expect(after.usedCapacity.cpu).toBe(before.usedCapacity.cpu + fit);
    expect(after.queueStatus.pending).toBeGreaterThanOrEqual(1);
    expect(after.queueStatus.running).toBeGreaterThanOrEqual(fit);
    const { resolvers } = h.driver.subschema!();
    const details = await (resolvers as any).Query._slurmJobs(null, { ids: [waiting[0]!.id] });
    expect(details[0].slurm).toMatchObject({ state: 'PENDING', pendingReason: expect.stringMatching(/Resources|Priority/) });
  });

  it('finds its jobs again after a restart: a running job finishes, one that ended meanwhile reaches its final state', async () => {
    await setUp();
    await h.start();
    const debug = await h.product();
    // The jobs wait for the test, not for a time: a loaded machine must not let either end too early.
    // In /tmp itself: any account the job runs as can see a file there.
    const stopped = join('/tmp', `sy-slurm-stopped-${randomUUID()}`);
    const restarted = join('/tmp', `sy-slurm-restarted-${randomUUID()}`);
    extraDirs.push(stopped, restarted);
    const waitUntil = (file: string) => `while [ ! -e ${file} ]; do sleep 0.2; done`;
    const long = h.job(debug, {
      command: ['sh', '-c', `for i in 1 2 3; do echo "line $i"; sleep 1; done; ${waitUntil(restarted)}; for i in 4 5 6; do echo "line $i"; done`],
    });
    const short = h.job(debug, { command: ['sh', '-c', `${waitUntil(stopped)}; echo short done; exit 4`] });
    const [longSlurmId, shortSlurmId] = await h.create(long, short);
    await waitFor(() => h.stdoutOf(long.id).includes('line 1'), 'the first line');
    await h.reach(short.id, 'RUNNING');
    await h.stop();
    await writeFile(stopped, '');

    // While the provider is down, the short job ends.
    await waitFor(async () => (await squeueJob(shortSlurmId))?.state === 'FAILED', 'the short job to end in Slurm');
    expect(h.stateOf(short.id)).toBe('RUNNING');

    const { driver } = await h.start();
    const observed = await driver.observe(long.id);
    expect(observed).toMatchObject({ state: 'RUNNING', providerGeneratedId: longSlurmId });
    await writeFile(restarted, '');
    expect(await h.final(short.id)).toMatchObject({ state: 'SUCCESS', exitCode: 4 });
    expect(await h.final(long.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    await waitFor(() => h.stdoutOf(long.id).includes('line 6'), 'the last line');
    // Every line arrives once: the new process continues where the old one stopped.
    expect(h.stdoutOf(long.id)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
    expect(h.stdoutOf(short.id)).toEqual(['short done']);
  });

  it('gives a job that ended while the provider was down, and that squeue no longer lists, its end from sacct', async () => {
    await setUp();
    await h.start();
    const created = h.job(await h.product(), { command: ['sh', '-c', 'echo early; exit 5'] });
    const [slurmId] = await h.create(created);
    await h.stop();
    await waitFor(async () => (await squeueJob(slurmId))?.state === 'FAILED', 'the job to end in Slurm');
    // A forgetful squeue: it lists everything but this job, as squeue does once MinJobAge has passed.
    const forgetful = await mkdtemp(join(tmpdir(), 'sy-forgetful-squeue-'));
    extraDirs.push(forgetful);
    const realSqueue = (await cli.run('sh', ['-c', 'command -v squeue'])).stdout.trim();
    await writeFile(join(forgetful, 'squeue'), `#!/bin/sh\n"${realSqueue}" "$@" | grep -v 'sy-${created.id}|'\nexit 0\n`);
    await chmod(join(forgetful, 'squeue'), 0o755);
    const listed = await cli.run(join(forgetful, 'squeue'), ['-h', '-t', 'all', '-O', SQUEUE_FORMAT]);
    expect(listed.stdout).not.toContain(`sy-${created.id}`);
    await h.start({ env: { ...process.env, PATH: `${forgetful}:${process.env.PATH}` } });
    expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: 5, status: 'Job finished with exit code 5', usageUnits: 1 });
    expect(h.stdoutOf(created.id)).toEqual(['early']);
    expect(await h.driver.observe(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: 5, providerGeneratedId: slurmId });
  });

  it('refuses a partition the cluster does not have, and bad partition settings, clearly', async () => {
    await setUp();
    await expect(h.start({ partitions: [{ partition: 'debug' }, { partition: 'no-such-partition' }] })).rejects.toThrow(
      /Slurm partition "no-such-partition" does not exist in this cluster \(it has: debug, long\)/,
    );
    expect(() => createSlurmDriver({ workDir, partitions: [{ partition: 'debug', cpu: 0 }] })).toThrow(
      /Invalid Slurm partition configuration: 0\.cpu/,
    );
    expect(() => createSlurmDriver({ workDir, partitions: [] })).toThrow(/Invalid Slurm partition configuration/);

    // Configured products: only what is listed, priced as told.
    await h.start({ partitions: [{ partition: 'long', productId: 'hpc-long', cpu: 2, pricePerUnit: 5, unitOfPrice: 'CREDITS_PER_MINUTE' }] });
    expect(await h.products()).toEqual([
      expect.objectContaining({
        id: 'hpc-long',
        cpu: 2,
        pricePerUnit: 5,
        unitOfPrice: 'CREDITS_PER_MINUTE',
        support: expect.objectContaining({ maxReplicas: 2, maxTimeAllocationMs: 7 * 86_400_000 }),
      }),
    ]);
    const debug = { ...(await h.product('hpc-long')), id: 'slurm-debug' };
    const refused = await h.call('jobs.create', { jobs: [h.job(debug, { command: ['true'] })] });
    expect(refused.result.results[0]).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining('does not sell product slurm-debug') },
    });
    const tooLong = await h.call('jobs.create', {
      jobs: [h.job(await h.product('hpc-long'), { command: ['true'], timeAllocationMs: 8 * 86_400_000 })],
    });
    expect(tooLong.result.results[0]).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining('exceeds the longest partition long allows (7-00:00:00)') },
    });
  });

  it('bounds a Slurm command that hangs (a fake of a broken sbatch) with a clear provider error, and loses no job', async () => {
    await setUp();
    const broken = await mkdtemp(join(tmpdir(), 'sy-broken-sbatch-'));
    extraDirs.push(broken);
    // A broken sbatch: it never answers. Everything else is the real Slurm.
    await writeFile(join(broken, 'sbatch'), '#!/bin/sh\nsleep 600\n');
    await chmod(join(broken, 'sbatch'), 0o755);
    await h.start({ env: { ...process.env, PATH: `${broken}:${process.env.PATH}` }, commandTimeoutMs: 1_000 });
    const created = h.job(await h.product(), { command: ['echo', 'hi'] });
    const began = Date.now();
    const reply = await h.call('jobs.create', { jobs: [created] });
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(reply.result.results[0]).toMatchObject({
      ok: false,
      error: {
        code: 'PROVIDER_UNAVAILABLE',
        message: expect.stringMatching(/Slurm command `sbatch --parsable .*` did not answer within 1000 ms and was killed/),
      },
    });
    // The provider still answers, knows nothing of the job, and a retry on a working Slurm runs it.
    expect((await h.call('jobs.reconcile', { ids: [created.id] })).result.jobs[0].state).toBeNull();
    await h.stop();
    await h.start();
    await h.create(created);
    expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(h.stdoutOf(created.id)).toEqual(['hi']);
  });

  it('marks a job whose Slurm state it does not understand (a fake of a garbling squeue) with a status line, and keeps polling', async () => {
    await setUp();
    const garbling = await mkdtemp(join(tmpdir(), 'sy-garbling-squeue-'));
    extraDirs.push(garbling);
    const realSqueue = (await cli.run('sh', ['-c', 'command -v squeue'])).stdout.trim();
    await writeFile(join(garbling, 'squeue'), `#!/bin/sh\n"${realSqueue}" "$@" | sed 's/|RUNNING|/|WOBBLING|/'\n`);
    await chmod(join(garbling, 'squeue'), 0o755);
    const lines: Array<{ msg: string; problem?: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    await h.start({ env: { ...process.env, PATH: `${garbling}:${process.env.PATH}` } }, logger);
    const created = h.job(await h.product(), { command: ['sh', '-c', 'sleep 2; echo finished'] });
    await h.create(created);
    const marked = await waitFor(() => h.eventsOf(created.id).find((e) => e.status?.includes('could not read')), 'the status line');
    expect(marked.status).toBe(
      "Switchyard could not read Slurm's answer about this job (unknown Slurm state WOBBLING); it keeps its last known state",
    );
    expect(lines.some((l) => l.problem === 'unknown Slurm state WOBBLING')).toBe(true);
    // The poll loop goes on: the job still ends, once Slurm says COMPLETED.
    expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(h.stdoutOf(created.id)).toEqual(['finished']);
  });

  /** Jobs of this test's work directory in Slurm's queue, one row per array task: what a duplicate submission would show twice. */
  const queuedIn = async (dir: string) => {
    const { stdout } = await cli.run('squeue', ['-h', '-r', '-t', 'all', '-O', 'JobArrayID:|,Name:|,Command:|']);
    return stdout
      .split('\n')
      .map((line) => line.split('|'))
      .filter(([, , command]) => command?.includes(dir))
      .map(([id, name]) => ({ id: id!.trim(), name: name!.trim() }));
  };

  /**
   * Slurm ids of jobs created at once while the one submit slot is taken: one goes alone (whichever was
   * ready first, unless the burst had gathered before it), the others as one array.
   */
  const expectOneArray = (ids: readonly (string | null)[]) => {
    const tasks = ids.filter((id) => id !== null && /^\d+_\d+$/.test(id));
    const arrayId = tasks[0]?.split('_')[0];
    const alone = ids.filter((id) => id !== null && /^\d+$/.test(id));
    expect(alone.length).toBeLessThanOrEqual(1);
    expect([...tasks].sort()).toEqual(Array.from({ length: ids.length - alone.length }, (_, task) => `${arrayId}_${task}`).sort());
    return arrayId!;
  };

  const burst = async (count: number, command: (index: number) => string[]) => {
    const debug = await h.product();
    const jobs = Array.from({ length: count }, (_, index) => h.job(debug, { command: command(index) }));
    const ids = await h.create(...jobs);
    const arrayId = expectOneArray(ids);
    /** The jobs that are tasks of the array. */
    const tasks = jobs.flatMap((created, k) => (ids[k]!.includes('_') ? [{ created, slurmId: ids[k]! }] : []));
    return { jobs, ids, arrayId, tasks };
  };

  it('submits the jobs that wait for a submit slot as one job array (by default); each task ends with its own exit code and output', async () => {
    await setUp();
    await h.start({ submitConcurrency: 1 });
    const { jobs, ids, arrayId } = await burst(6, (k) => ['sh', '-c', `echo "out $SWITCHYARD_JOB_ID in $PWD"; echo "err ${k}" >&2; exit ${k}`]);
    for (const [k, created] of jobs.entries()) {
      expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: k, status: `Job finished with exit code ${k}` });
      expect(h.stdoutOf(created.id)).toEqual([`out ${created.id} in ${join(workDir, 'jobs', created.id)}`]);
      // Beside srun's own words about a task that exited non-zero (batch.err, as for a lone job).
      expect(h.linesOf(created.id).flatMap((line) => (line.stderr !== null ? [line.stderr] : []))).toContain(`err ${k}`);
      expect(await h.driver.observe(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: k, providerGeneratedId: ids[k] });
    }
    // One sbatch for the tasks: they share the array's name, and Slurm ran each job once.
    const queued = await queuedIn(workDir);
    const tasks = queued.filter((row) => row.id.startsWith(`${arrayId}_`));
    expect(tasks.map((row) => row.id).sort()).toEqual(ids.filter((id) => id.includes('_')).sort());
    expect(new Set(tasks.map((row) => row.name)).size).toBe(1);
    expect(queued).toHaveLength(6);
  });

  it('submits every job with an sbatch of its own when arrays are off', async () => {
    await setUp();
    await h.start({ submitConcurrency: 1, arrays: false });
    const debug = await h.product();
    const jobs = Array.from({ length: 4 }, (_, k) => h.job(debug, { command: ['sh', '-c', `exit ${k}`] }));
    const ids = await h.create(...jobs);
    expect(ids.filter((id) => /^\d+$/.test(id))).toHaveLength(4);
    for (const [k, created] of jobs.entries()) expect(await h.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: k });
  });

  it('cancels, extends, suspends and opens a shell in one task of an array, leaving the other tasks as they were', async () => {
    await setUp();
    await h.start({ submitConcurrency: 1, arrays: true });
    const { jobs, tasks, arrayId } = await burst(4, () => ['sh', '-c', 'echo started; sleep 120']);
    for (const created of jobs) await h.reach(created.id, 'RUNNING');
    // The task suspended is the one that kept the array's own numeric id (Slurm gives it to the last
    // task to start): `scontrol suspend <that id>` would take every task of the array with it. The
    // task cancelled and the one extended are two of the others, whichever Slurm started first.
    const raw = await Promise.all(tasks.map(async (task) => (await squeueJob(task.slurmId))?.rawJobId));
    const keeper = raw.indexOf(arrayId);
    expect(keeper).toBeGreaterThanOrEqual(0);
    const others = tasks.filter((_, k) => k !== keeper);
    expect(others.length).toBeGreaterThanOrEqual(2);
    const ordered = [others[0]!, others[1]!, tasks[keeper]!];
    const [cancelled, extended, suspended] = ordered.map((task) => task.created);
    const ids = ['', ...ordered.map((task) => task.slurmId)];

    expect((await h.call('jobs.terminate', { ids: [cancelled!.id], reason: 'Just this one' })).result.results).toEqual([{ ok: true, error: null }]);
    expect(await h.final(cancelled!.id)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated (Just this one)' });
    expect((await squeueJob(ids[1]!))?.state).toBe('CANCELLED');

    const limitBefore = (await squeueJob(ids[2]!))?.timeLimitSeconds;
    const reply = await h.call('jobs.extend', { items: [{ id: extended!.id, addMs: 60_000 }] });
    expect(reply.result.results[0]).toMatchObject({ ok: true, error: null, expiresAt: expect.any(Number) });
    expect((await squeueJob(ids[2]!))?.timeLimitSeconds).toBe(limitBefore! + 60);
    expect((await squeueJob(ids[3]!))?.timeLimitSeconds).toBe(limitBefore);

    expect((await h.call('jobs.suspend', { ids: [suspended!.id] })).result.results).toEqual([{ ok: true, error: null }]);
    expect((await squeueJob(ids[3]!))?.state).toBe('SUSPENDED');
    await h.reach(suspended!.id, 'SUSPENDED');
    expect((await h.call('jobs.unsuspend', { ids: [suspended!.id] })).result.results).toEqual([{ ok: true, error: null }]);
    expect((await squeueJob(ids[3]!))?.state).toBe('RUNNING');

    // A shell in the extended task's allocation: srun takes the task's own numeric id.
    const session = await h.driver.openSession!({ jobId: extended!.id, rank: 0, type: 'SHELL', cols: 80, rows: 24 });
    let screen = '';
    session.stream.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    session.stream.write('echo "in $SWITCHYARD_JOB_ID as $SLURM_JOB_ID"; exit 7\r');
    expect(await session.exit).toEqual({ exitCode: 7 });
    expect(screen).toContain(`in ${extended!.id} as ${(await squeueJob(ids[2]!))?.rawJobId}`);

    for (const created of jobs.filter((j) => j !== cancelled)) expect(h.stateOf(created.id)).toBe('RUNNING');
    expect((await squeueJob(ids[2]!))?.state).toBe('RUNNING');
  });

  it('ends a task cancelled while it waited: terminated when Switchyard cancelled it, cancelled outside when someone else did', async () => {
    await setUp();
    await h.start({ submitConcurrency: 1, arrays: true });
    const fit = (await h.call('utilization', {})).result.capacityByProduct['slurm-debug'];
    // Three more than fit: three tasks wait, so that a cancelled one is never the array's last waiting task.
    const { jobs } = await burst(fit + 3, () => ['sleep', '120']);
    await waitFor(() => jobs.filter((j) => h.stateOf(j.id) === 'RUNNING').length === fit, `${fit} jobs to run`);
    const waiting = jobs.filter((j) => h.stateOf(j.id) === 'IN_QUEUE');
    expect(waiting).toHaveLength(3);
    const [ours, theirs, left] = waiting;
    const slurmIdOf = async (id: string) => (await h.driver.observe(id)).providerGeneratedId!;

    expect((await h.call('jobs.terminate', { ids: [ours!.id], reason: 'Not needed' })).result.results).toEqual([{ ok: true, error: null }]);
    expect(await h.final(ours!.id)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated (Not needed)', usageUnits: 0 });
    // What makes it hard: Slurm took the task out of its array and keeps no row of it.
    const listed = async () => (await queuedIn(workDir)).map((row) => row.id);
    expect(await listed()).not.toContain(await slurmIdOf(ours!.id));

    const theirSlurmId = await slurmIdOf(theirs!.id);
    await cli.run('scancel', [theirSlurmId]);
    expect(await h.final(theirs!.id)).toMatchObject({
      state: 'FAILURE',
      status: `Cancelled outside Switchyard while it waited in the Slurm queue (Slurm took ${theirSlurmId} out of its job array before it started)`,
      usageUnits: 0,
    });
    expect(await listed()).not.toContain(theirSlurmId);
    // Each ended once, and the others are as they were.
    for (const cancelled of [ours!, theirs!])
      expect(h.eventsOf(cancelled.id).filter((e) => e.state === 'SUCCESS' || e.state === 'FAILURE')).toHaveLength(1);
    expect(h.stateOf(left!.id)).toBe('IN_QUEUE');
    expect(jobs.filter((j) => h.stateOf(j.id) === 'RUNNING')).toHaveLength(fit);
  });

  it('finds every job of an array again, once, after a restart between the records and sbatch’s answer, and after one', async () => {
    await setUp();
    // sbatch submits the array, then hangs, as a provider that crashed before hearing the answer.
    const hanging = await mkdtemp(join(tmpdir(), 'sy-hanging-sbatch-'));
    const submitted = join(hanging, 'submitted');
    extraDirs.push(hanging);
    const realSbatch = (await cli.run('sh', ['-c', 'command -v sbatch'])).stdout.trim();
    await writeFile(
      join(hanging, 'sbatch'),
      `#!/bin/sh\n"${realSbatch}" "$@"; rc=$?\ncase "$*" in *--array=*) touch '${submitted}'; sleep 600;; esac\nexit $rc\n`,
    );
    await chmod(join(hanging, 'sbatch'), 0o755);
    const released = join('/tmp', `sy-slurm-released-${randomUUID()}`);
    extraDirs.push(released);
    await h.start({ submitConcurrency: 1, arrays: true, commandTimeoutMs: 15_000, env: { ...process.env, PATH: `${hanging}:${process.env.PATH}` } });
    const debug = await h.product();
    const jobs = Array.from({ length: 4 }, (_, k) =>
      h.job(debug, { command: ['sh', '-c', `while [ ! -e ${released} ]; do sleep 0.2; done; echo "done ${k}"; exit ${k + 1}`] }),
    );
    const crashed = h.call('jobs.create', { jobs });
    await waitFor(() => statSync(submitted, { throwIfNoEntry: false }), 'the array to be submitted');

    // A second provider on the same records, before the first heard sbatch's answer.
    const again = await harness(workDir);
    try {
      const { driver } = await again.start();
      const observed = await Promise.all(jobs.map((created) => driver.observe(created.id)));
      expectOneArray(observed.map((o) => o.providerGeneratedId));
      for (const o of observed) expect(o.state === 'IN_QUEUE' || o.state === 'RUNNING').toBe(true);
      // The first provider's sbatch gives up; it finds the array it submitted, and submits nothing again.
      const reply = await crashed;
      expect(reply.result.results.map((r: { providerGeneratedId: string }) => r.providerGeneratedId)).toEqual(
        observed.map((o) => o.providerGeneratedId),
      );
      await h.stop();

      // And once more, after sbatch answered: the records have every task's id.
      await again.stop();
      const restarted = await again.start();
      for (const [k, created] of jobs.entries()) {
        expect(await restarted.driver.observe(created.id)).toMatchObject({ providerGeneratedId: observed[k]!.providerGeneratedId });
      }
      await writeFile(released, '');
      for (const [k, created] of jobs.entries()) {
        expect(await again.final(created.id)).toMatchObject({ state: 'SUCCESS', exitCode: k + 1 });
        expect(again.stdoutOf(created.id)).toEqual([`done ${k}`]);
        expect(again.eventsOf(created.id).filter((e) => e.state === 'SUCCESS')).toHaveLength(1);
      }
      // Four jobs in Slurm, no more: one alone, three tasks of one array.
      expect((await queuedIn(workDir)).map((row) => row.id).sort()).toEqual(observed.map((o) => o.providerGeneratedId).sort());
    } finally {
      await again.close();
    }
  }, 90_000);

  it('ends a job past its time limit EXPIRED (Slurm checks limits about every 30 s)', async () => {
    await setUp();
    await h.start();
    const created = h.job(await h.product(), { command: ['sh', '-c', 'echo waiting; sleep 300'], timeAllocationMs: 30_000 });
    const [slurmId] = await h.create(created);
    // Slurm's smallest limit is a minute.
    await h.reach(created.id, 'RUNNING');
    expect((await squeueJob(slurmId))?.timeLimitSeconds).toBe(60);
    const expired = await h.final(created.id, 150_000);
    expect(expired).toMatchObject({ state: 'EXPIRED', status: 'The job reached the end of its time allocation' });
    expect(expired.usageUnits).toBe(1);
    expect((await squeueJob(slurmId))?.state).toBe('TIMEOUT');
    expect(h.stdoutOf(created.id)).toEqual(['waiting']);
  }, 180_000);
});
