/**
 * The chaos run: two gateway replicas, a local provider, and a NATS and a
 * Redis of its own (JetStream file store, append-only file), all real
 * processes. Jobs that may wait (scheduleTimeout) are submitted over a few
 * seconds while a gateway, NATS (and, while NATS is away, the other gateway as
 * it waits on the creates of a batch), the provider and Redis are each
 * SIGKILLed and started again at the same address with the same data. Then it waits for
 * every accepted job to end and counts what users and operators would check:
 * refusals and why, final states, log lines lost or doubled, jobs that ran
 * twice, and charges against usage. test/chaos.test.ts asserts on the counts;
 * bench/chaos.ts reports them for a larger load.
 *
 * Each job prints three known lines with a token drawn when it starts, so a
 * job that ran twice shows two tokens, whatever the sandbox does to its pid.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createClient, eventually, type TestClient } from './graphql-client.js';
import { startNatsServer, startRedisServer, type OwnServer } from './local-servers.js';
import { freePort, startSwitchyard, waitReady, type Proc } from './processes.js';

export interface ChaosOptions {
  /** Jobs to submit. */
  jobs: number;
  /** Submissions are spread over this long. */
  submitMs: number;
  /** Jobs in one createJobs call. @default 10 */
  batch?: number;
  /** How long accepted jobs may take to reach a final state once the last fault is over. */
  settleMs: number;
  /** Told what happens, as it happens. */
  progress?: (message: string) => void;
}

export interface ChaosFault {
  /** What was killed. */
  what: string;
  /** Seconds after the first submission. */
  killedAt: number;
  /** How long it stayed down. */
  downSeconds: number;
  /** From the kill until everything was back (processes ready, the provider UP on both gateways). */
  recoveredSeconds: number;
}

export interface ChaosReport {
  submitted: number;
  /** Jobs in the store at the end: every job some submission created. */
  accepted: number;
  /** Submitted jobs (by name) of which the store has no job. */
  specsWithoutJob: number;
  /** Jobs that waited at the gateway for their provider to be reachable (the faults met the load). */
  waitedForProvider: number;
  /** Jobs a replica died sending, sent again by another. */
  resentForDeadReplica: number;
  /** Refused submissions, by code and reason. */
  refused: Record<string, number>;
  /** Refusals for an unreachable provider (none may be: every job could wait). */
  refusedUnavailable: number;
  finalStates: Record<string, number>;
  /** Jobs not in a final state within the bound. */
  notFinal: string[];
  /** Lines of its run a job lacks (all three for a job that ended SUCCESS with exit code 0; any before its last otherwise). */
  lostLines: number;
  jobsWithLostLines: string[];
  /** A few of them, with what they have, to tell why. */
  lostExamples: { id: string; state: string; lines: string[]; updates: string[] }[];
  /** Lines stored twice. */
  duplicatedLines: number;
  /** Jobs that ran more than once: two run tokens in their output, or started twice. */
  doubleRuns: string[];
  charges: {
    /** From each job's own timeline: started price units of running time. */
    expected: number;
    /** The sum of Job.creditsCharged. */
    jobsCharged: number;
    /** The fall of the wallet's balance. */
    walletFall: number;
    /** The sum of CHARGE transactions. */
    chargeRecords: number;
    /** Jobs whose charge is not their expected one. */
    jobsOff: number;
    /** The largest difference for one job, in credits. */
    maxJobDifference: number;
    /** A few jobs whose charge is off, with their story, to tell why. */
    examples: { id: string; expected: number; charged: number; updates: string[] }[];
  };
  faults: ChaosFault[];
  seconds: { submitting: number; settling: number; total: number };
  /** Last output of each process, for a report that fails. */
  output: Record<string, string>;
}

/** A price minute this long: short jobs cost a few credits each (local-small: 1 credit per minute). */
const MINUTE_MS = 100;
const GRANT = 1_000_000_000;
/** Jobs sent to a gateway that is killed while it waits on their creates (NATS being away). */
const STRANDED = 5;
const LINES = 3;

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const JOBS_PAGE = `query ($after: String) { jobs(first: 500, after: $after, orderBy: CREATED_ASC) {
  edges { node { id specification { name product { id } } status { state exitCode } updates { state status timestamp } creditsCharged logs { stdout } } }
  pageInfo { hasNextPage endCursor } } }`;

interface StoredJob {
  id: string;
  specification: { name: string; product: { id: string } };
  status: { state: string; exitCode: number | null };
  updates: { state: string | null; status: string | null; timestamp: string }[];
  creditsCharged: number;
  logs: { stdout: string | null }[];
}

function spec(index: number) {
  const name = `chaos-${index}`;
  // The token tells one run from another; the sandbox gives every job pid 1 or 2.
  // One in twenty runs 10 s, through the faults and the charging rounds; the rest under a second.
  const pause = index % 20 === 7 ? 5 : 0.2;
  const command = `r=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo pid$$); for n in ${Array.from({ length: LINES }, (_, i) => i + 1).join(' ')}; do echo "${name} $n $r"; sleep ${pause}; done`;
  // One in ten routed by requirements (it waits for room), the rest for a named product.
  const placement = index % 10 === 9 ? { requirements: { cpu: 1, providers: ['local'] } } : { product: { id: 'local-small', provider: 'local' } };
  return { ...placement, name, command: ['sh', '-c', command], timeAllocation: { minutes: 30 }, scheduleTimeout: 600 };
}

/** Started price units of a job's running time (RUNNING and CANCELING, up to its first final state) times its price, as the gateway charges them. */
function expectedCreditsAt(job: StoredJob, prices: Map<string, number>): number {
  const changes = job.updates
    .filter((u) => u.state !== null)
    .map((u, i) => ({ state: u.state!, at: Date.parse(u.timestamp), i }))
    .sort((a, b) => a.at - b.at || a.i - b.i);
  let ms = 0;
  let since: number | null = null;
  for (const { state, at } of changes) {
    const running = state === 'RUNNING' || state === 'CANCELING';
    if (running && since === null) since = at;
    if (!running && since !== null) {
      ms += Math.max(0, at - since);
      since = null;
    }
    if (state === 'SUCCESS' || state === 'FAILURE' || state === 'EXPIRED') break;
  }
  return Math.ceil(ms / MINUTE_MS) * (prices.get(job.specification.product.id) ?? NaN);
}

const FINAL = new Set(['SUCCESS', 'FAILURE', 'EXPIRED']);

const story = (job: StoredJob) => job.updates.map((u) => `${u.timestamp} ${u.state ?? '-'} ${u.status ?? ''}`);

/** Final states, and what each job's output says: lines missing, lines stored twice, runs. */
function analyzeLogs(jobs: StoredJob[]) {
  const finalStates: Record<string, number> = {};
  const notFinal: string[] = [];
  let lostLines = 0;
  const jobsWithLostLines: string[] = [];
  const lostExamples: ChaosReport['lostExamples'] = [];
  let duplicatedLines = 0;
  const doubleRuns: string[] = [];
  for (const job of jobs) {
    finalStates[job.status.state] = (finalStates[job.status.state] ?? 0) + 1;
    if (!FINAL.has(job.status.state)) notFinal.push(job.id);
    const seen = new Set<number>();
    const lines = new Set<string>();
    const tokens = new Set<string>();
    for (const { stdout } of job.logs) {
      const match = stdout ? /^(\S+) (\d+) (\S+)$/.exec(stdout) : null;
      if (!match || match[1] !== job.specification.name) continue;
      seen.add(Number(match[2]));
      tokens.add(match[3]!);
      if (lines.has(stdout!)) duplicatedLines += 1;
      lines.add(stdout!);
    }
    // A job that ran to its end printed every line; one stopped on the way, every line before its last.
    const required = job.status.state === 'SUCCESS' && job.status.exitCode === 0 ? LINES : Math.max(0, ...seen);
    let lost = 0;
    for (let n = 1; n <= required; n++) if (!seen.has(n)) lost += 1;
    if (lost > 0) {
      lostLines += lost;
      jobsWithLostLines.push(job.id);
      if (lostExamples.length < 3)
        lostExamples.push({ id: job.id, state: job.status.state, lines: job.logs.map((l) => l.stdout ?? ''), updates: story(job) });
    }
    // Moves into RUNNING other than a resume: more than one is a second start.
    const states = job.updates.map((u) => u.state).filter((state) => state !== null);
    const starts = states.filter((state, i) => state === 'RUNNING' && states[i - 1] !== 'SUSPENDED').length;
    if (tokens.size > 1 || starts > 1) doubleRuns.push(job.id);
  }
  return { finalStates, notFinal, lostLines, jobsWithLostLines, lostExamples, duplicatedLines, doubleRuns };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const progress = options.progress ?? (() => {});
  const batch = options.batch ?? 10;
  const started = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'sy-chaos-'));
  const servers: OwnServer[] = [];
  const procs = new Map<string, Proc>();
  /** Every process started under each name, the killed ones included, for their output. */
  const history = new Map<string, Proc[]>();
  const output: Record<string, string> = {};
  const keepOutput = (name: string) => {
    output[name] = (history.get(name) ?? [])
      .map((proc) => proc.output())
      .join('')
      .slice(-4000);
  };
  // Whatever ends this process (a test timeout, a bench stopped with ^C), what the run started goes with it.
  const killAll = () => {
    for (const proc of procs.values()) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    for (const server of servers) server.killNow();
  };
  process.once('exit', killAll);

  try {
    const nats = await startNatsServer({ dataDir: join(base, 'nats') });
    servers.push(nats);
    const redis = await startRedisServer({ dataDir: join(base, 'redis'), appendOnly: true });
    servers.push(redis);
    const prefix = `chaos${randomBytes(4).toString('hex')}`;
    const adminToken = randomBytes(24).toString('base64url');
    const ports = { a: await freePort(), b: await freePort() };
    const gatewayEnv = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      SWITCHYARD_PREFIX: prefix,
      SWITCHYARD_ADMIN_TOKEN: adminToken,
      HOST: '127.0.0.1',
      SWITCHYARD_PROVIDER_TIMEOUT_MS: '2000',
      SWITCHYARD_PRICE_MINUTE_MS: String(MINUTE_MS),
      SWITCHYARD_CHARGE_INTERVAL_MS: '500',
      // Above the consumer's ack wait (4 s): a job's end held by a gateway killed holding it is applied before rounds reach it.
      SWITCHYARD_CHARGE_LAG_MS: '6000',
    };
    const providerEnv = {
      NATS_URL: nats.url,
      SWITCHYARD_PREFIX: prefix,
      SWITCHYARD_HEARTBEAT_MS: '500',
      SWITCHYARD_LOCAL_STATE_DIR: join(base, 'local'),
      SWITCHYARD_OUTBOX_DIR: join(base, 'outbox'),
      SWITCHYARD_TERMINATE_GRACE_MS: '500',
    };
    const urls = { a: `http://127.0.0.1:${ports.a}`, b: `http://127.0.0.1:${ports.b}` };
    const startGateway = (which: 'a' | 'b') => {
      const proc = startSwitchyard(['gateway'], { ...gatewayEnv, PORT: String(ports[which]) });
      procs.set(`gateway-${which}`, proc);
      history.set(`gateway-${which}`, [...(history.get(`gateway-${which}`) ?? []), proc]);
      return proc;
    };
    const startProvider = () => {
      const proc = startSwitchyard(['provider', 'local', '--id', 'local'], providerEnv);
      procs.set('provider', proc);
      history.set('provider', [...(history.get('provider') ?? []), proc]);
      return proc;
    };
    const clients = { a: createClient(urls.a, adminToken), b: createClient(urls.b, adminToken) };

    const gatewayReady = (which: 'a' | 'b', timeoutMs = 30_000) => waitReady(urls[which], procs.get(`gateway-${which}`)!, timeoutMs);
    /** The provider is UP with its products on both gateways. */
    const providerUp = (timeoutMs = 30_000) =>
      Promise.all(
        (['a', 'b'] as const).map((which) =>
          eventually(
            async () => {
              const data = await clients[which].ok(`{ provider(id: "local") { status products { id } } }`);
              return data.provider?.status === 'UP' && data.provider.products.length > 0;
            },
            { timeoutMs, intervalMs: 100, what: `the local provider to be UP on gateway ${which}` },
          ),
        ),
      );

    startGateway('a');
    startGateway('b');
    startProvider();
    await Promise.all([gatewayReady('a'), gatewayReady('b')]);
    await providerUp();
    await clients.a.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, {
      g: { owner: 'admin', provider: 'local', category: 'local-cpu', amount: GRANT },
    });
    progress(`servers, 2 gateways and the provider up in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    // --- submissions, spread over submitMs, to either gateway -------------------------------
    const refused: Record<string, number> = {};
    let refusedUnavailable = 0;
    let submitted = 0;
    const t0 = performance.now();
    const since = () => (performance.now() - t0) / 1000;
    const down = { a: false, b: false };
    /** One createJobs call that reaches a gateway; a lost answer is sent again to the other (a duplicate is refused as such). */
    const submit = async (specs: ReturnType<typeof spec>[], prefer: 'a' | 'b') => {
      const deadline = performance.now() + 60_000;
      let which = prefer;
      for (;;) {
        if (down[which]) which = which === 'a' ? 'b' : 'a';
        try {
          const data = await clients[which].ok(CREATE, { specs });
          for (const result of data.createJobs as { job: { id: string } | null; error: { code: string; message: string } | null }[]) {
            if (!result.error || result.error.code === 'DUPLICATE_JOB') continue;
            const reason = `${result.error.code}: ${result.error.message.replace(/[0-9a-f-]{36}/g, '<id>').replace(/\d+(\.\d+)? s\b/g, 'N s')}`;
            refused[reason] = (refused[reason] ?? 0) + 1;
            if (result.error.code === 'PROVIDER_UNAVAILABLE' || /not connected|did not answer|is down|circuit/.test(result.error.message))
              refusedUnavailable += 1;
          }
          return;
        } catch (error) {
          if (performance.now() > deadline) throw new Error(`could not submit a batch within 60 s: ${(error as Error).message}`, { cause: error });
          which = which === 'a' ? 'b' : 'a';
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const batches = Math.ceil(options.jobs / batch);
    const submissions: Promise<void>[] = [];
    const submitting = (async () => {
      for (let k = 0; k < batches; k++) {
        const due = t0 + (options.submitMs * k) / batches;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const specs = Array.from({ length: Math.min(batch, options.jobs - k * batch) }, (_, i) => spec(k * batch + i));
        submitted += specs.length;
        submissions.push(submit(specs, k % 2 === 0 ? 'a' : 'b'));
      }
      await Promise.all(submissions);
    })();

    // --- faults, one after another, each once the last is over ------------------------------
    const faults: ChaosFault[] = [];
    const whenSubmitted = (share: number) =>
      eventually(async () => submitted >= options.jobs * share, {
        timeoutMs: options.submitMs + 60_000,
        intervalMs: 20,
        what: `${share * 100}% submitted`,
      });
    const fault = async (
      what: string,
      share: number,
      downMs: number,
      kill: () => Promise<void>,
      restart: () => Promise<void>,
      recovered: () => Promise<unknown>,
    ) => {
      await whenSubmitted(share);
      const killedAt = since();
      progress(`${killedAt.toFixed(1)} s: SIGKILL ${what} (${submitted} submitted)`);
      const killed = performance.now();
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      await restart();
      await recovered();
      faults.push({ what, killedAt, downSeconds: downMs / 1000, recoveredSeconds: (performance.now() - killed) / 1000 });
      progress(`${since().toFixed(1)} s: ${what} back, everything ready again`);
    };
    const faulting = (async () => {
      await fault(
        'gateway a',
        0.1,
        1_500,
        async () => {
          down.a = true;
          await procs.get('gateway-a')!.kill('SIGKILL');
        },
        async () => {
          startGateway('a');
          await gatewayReady('a');
          down.a = false;
        },
        () => providerUp(),
      );
      await fault(
        'NATS, and gateway b while NATS was away',
        0.3,
        2_500,
        async () => {
          await nats.kill('SIGKILL');
          // A batch for gateway b as NATS goes: b stores the jobs, waits on their creates, and is killed
          // meanwhile. No provider has them and b is gone: another replica must send them.
          const stranded = Array.from({ length: STRANDED }, (_, i) => spec(options.jobs + i));
          submitted += stranded.length;
          submissions.push(submit(stranded, 'b'));
          await eventually(
            async () => {
              const data = await clients.a.ok(`{ jobs(first: 50, orderBy: CREATED_DESC) { edges { node { specification { name } } } } }`);
              const names = new Set(data.jobs.edges.map((e: { node: StoredJob }) => e.node.specification.name));
              return stranded.every((s) => names.has(s.name));
            },
            { timeoutMs: 10_000, intervalMs: 20, what: 'gateway b to store the stranded batch' },
          );
          down.b = true;
          await procs.get('gateway-b')!.kill('SIGKILL');
        },
        async () => {
          await nats.start();
          startGateway('b');
          await gatewayReady('b', 60_000);
          down.b = false;
        },
        () => Promise.all([gatewayReady('a'), providerUp(60_000)]),
      );
      await fault(
        'the provider',
        0.55,
        1_500,
        () => procs.get('provider')!.kill('SIGKILL'),
        async () => {
          startProvider();
        },
        () => providerUp(60_000),
      );
      await fault(
        'Redis',
        0.8,
        1_500,
        () => redis.kill('SIGKILL'),
        () => redis.start(),
        () => Promise.all([gatewayReady('a', 60_000), gatewayReady('b', 60_000)]),
      );
    })();
    await Promise.all([submitting, faulting]);
    // Batches sent again after a gateway died included.
    await Promise.all(submissions);
    const submittingSeconds = since();
    progress(`${submittingSeconds.toFixed(1)} s: ${submitted} submitted, all faults over; waiting for every job to end`);

    // --- every accepted job to a final state ---------------------------------------------------
    const settleStarted = performance.now();
    const client: TestClient = clients.a;
    const active = async () =>
      (await client.ok(`{ jobs(first: 1, filter: { states: [IN_QUEUE, RUNNING, SUSPENDED, CANCELING] }) { totalCount } }`)).jobs.totalCount as number;
    await eventually(async () => (await active()) === 0, {
      timeoutMs: options.settleMs,
      intervalMs: 500,
      what: 'every accepted job to reach a final state',
    }).catch(() => undefined);

    const readAll = async () => {
      const all: StoredJob[] = [];
      let after: string | null = null;
      do {
        const data: { jobs: { edges: { node: StoredJob }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await client.ok(
          JOBS_PAGE,
          { after },
        );
        all.push(...data.jobs.edges.map((e) => e.node));
        after = data.jobs.pageInfo.hasNextPage ? data.jobs.pageInfo.endCursor : null;
      } while (after);
      return all;
    };
    const chargeRecords = async () => {
      let sum = 0;
      let after: string | null = null;
      do {
        const data: {
          transactions: { edges: { node: { kind: string; amount: number } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
        } = await client.ok(
          `query ($after: String) { transactions(first: 500, after: $after) { edges { node { kind amount } } pageInfo { hasNextPage endCursor } } }`,
          { after },
        );
        for (const { node } of data.transactions.edges) if (node.kind === 'CHARGE') sum += node.amount;
        after = data.transactions.pageInfo.hasNextPage ? data.transactions.pageInfo.endCursor : null;
      } while (after);
      return sum;
    };
    const walletFall = async () => {
      const data = await client.ok(`{ wallets { provider balance } }`);
      return GRANT - (data.wallets.find((w: { provider: string }) => w.provider === 'local')?.balance ?? GRANT);
    };

    const products = await client.ok(`{ products(provider: "local") { id pricePerUnit unitOfPrice } }`);
    // Per minute (a price minute is MINUTE_MS here).
    const prices = new Map<string, number>(products.products.map((p: { id: string; pricePerUnit: number }) => [p.id, p.pricePerUnit]));
    const expectedCredits = (job: StoredJob) => expectedCreditsAt(job, prices);
    let jobs = await readAll();
    let charges: ChaosReport['charges'] = {
      expected: 0,
      jobsCharged: 0,
      walletFall: 0,
      chargeRecords: 0,
      jobsOff: 0,
      maxJobDifference: 0,
      examples: [],
    };
    const tally = async () => {
      const offJobs = jobs.filter((job) => job.creditsCharged !== expectedCredits(job));
      const off = offJobs.map((job) => Math.abs(job.creditsCharged - expectedCredits(job)));
      charges = {
        expected: jobs.reduce((sum, job) => sum + expectedCredits(job), 0),
        jobsCharged: jobs.reduce((sum, job) => sum + job.creditsCharged, 0),
        walletFall: await walletFall(),
        chargeRecords: await chargeRecords(),
        jobsOff: off.length,
        maxJobDifference: Math.max(0, ...off),
        examples: offJobs
          .slice(0, 3)
          .map((job) => ({ id: job.id, expected: expectedCredits(job), charged: job.creditsCharged, updates: story(job) })),
      };
      return charges.jobsOff === 0 && charges.walletFall === charges.jobsCharged && charges.chargeRecords === charges.jobsCharged;
    };
    // A job's end may be applied before its last lines: a replica killed holding them hands them on only
    // once their ack wait is over. Wait for that (and for a charge that failed to be made again), within a bound.
    let logs = analyzeLogs(jobs);
    await eventually(
      async () => {
        jobs = await readAll();
        logs = analyzeLogs(jobs);
        const charged = await tally();
        return charged && logs.lostLines === 0 && logs.notFinal.length === 0;
      },
      { timeoutMs: 20_000, intervalMs: 1_000, what: 'every line and charge to be in' },
    ).catch(() => undefined);
    const settlingSeconds = (performance.now() - settleStarted) / 1000;

    for (const name of procs.keys()) keepOutput(name);
    return {
      submitted,
      accepted: jobs.length,
      specsWithoutJob: submitted - new Set(jobs.map((job) => job.specification.name)).size,
      waitedForProvider: jobs.filter((job) => job.updates.some((u) => u.status?.includes(' to take the job: '))).length,
      resentForDeadReplica: jobs.filter((job) => job.updates.some((u) => u.status?.includes('the gateway replica that accepted it stopped'))).length,
      refused,
      refusedUnavailable,
      ...logs,
      charges,
      faults,
      seconds: { submitting: submittingSeconds, settling: settlingSeconds, total: (performance.now() - started) / 1000 },
      output,
    };
  } catch (error) {
    // The processes' last words, for whoever reads the failure.
    for (const name of procs.keys()) keepOutput(name);
    const last = Object.entries(output)
      .map(([name, text]) => `--- ${name}\n${text.slice(-1500)}`)
      .join('\n');
    throw new Error(`${(error as Error).message}\n${last}`, { cause: error });
  } finally {
    for (const [name, proc] of procs) {
      keepOutput(name);
      await proc.kill('SIGTERM').catch(() => undefined);
    }
    for (const server of servers) await server.stop().catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
    process.removeListener('exit', killAll);
  }
}

/** The report as a few lines for a person. */
export function describeChaos(report: ChaosReport): string {
  const refusals = Object.entries(report.refused).map(([why, n]) => `${n} × ${why}`);
  return [
    `submitted ${report.submitted}, accepted ${report.accepted} (${report.specsWithoutJob} submitted without a job; ${report.waitedForProvider} waited for the provider; ${report.resentForDeadReplica} sent again for a replica that died), refused ${Object.values(report.refused).reduce((a, b) => a + b, 0)} (${report.refusedUnavailable} for an unreachable provider)${refusals.length ? `: ${refusals.join('; ')}` : ''}`,
    `final states: ${Object.entries(report.finalStates)
      .map(([state, n]) => `${state} ${n}`)
      .join(', ')}; not final: ${report.notFinal.length}`,
    `log lines lost: ${report.lostLines} (in ${report.jobsWithLostLines.length} jobs); duplicated: ${report.duplicatedLines}; jobs that ran twice: ${report.doubleRuns.length}`,
    `charges: expected ${report.charges.expected}, jobs charged ${report.charges.jobsCharged}, wallet fell ${report.charges.walletFall}, charge records ${report.charges.chargeRecords}; jobs off ${report.charges.jobsOff} (by at most ${report.charges.maxJobDifference})`,
    `faults: ${report.faults.map((f) => `${f.what} killed at ${f.killedAt.toFixed(1)} s, down ${f.downSeconds} s, all back after ${f.recoveredSeconds.toFixed(1)} s`).join('; ')}`,
    `time: submitting ${report.seconds.submitting.toFixed(1)} s, settling ${report.seconds.settling.toFixed(1)} s, total ${report.seconds.total.toFixed(1)} s`,
  ].join('\n');
}
