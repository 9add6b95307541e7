/**
 * Where a lone Slurm job's time to RUNNING goes (a diagnosis beside bench/slurm.ts, not part of
 * `npm run bench`): lone `sleep 5` jobs through the gateway, one at a time, each after a random
 * pause, and for each the milliseconds from createJobs to
 *   answered   createJobs' reply
 *   sbatch     sbatch's answer, in the driver (its debug log)
 *   allocated  slurmctld's "sched: Allocate JobId=…" (its own log, when this host can read it)
 *   file       the first change in the job's directory (Slurm launching the batch step)
 *   driver     the driver's RUNNING: from the new output file, a look at the job alone, or a look at all jobs
 *   graphql    RUNNING through GraphQL (polled every 20 ms, as bench/slurm.ts does)
 * and the medians of each step. `SLURM_CONF=… npx tsx bench/slurm-start-trace.ts [--runs=12] [--pause=2000]`
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';

import { startServices } from './services.js';
import { SLURM_PROVIDER_ID, slurmSkipReason, startSlurmRig } from './slurm.js';
import { numberOption, runWhenMain } from './standalone.js';
import { sleep } from './stats.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const JOB_STATE = `query ($id: ID!) { job(id: $id) { status { state } providerGeneratedId } }`;
const STEPS = ['answered', 'sbatch', 'allocated', 'file', 'driver', 'graphql'] as const;
type Trace = Partial<Record<(typeof STEPS)[number], number>> & { how?: string };

interface DriverLine {
  time: number;
  msg: string;
  jobId?: string;
  state?: string;
  launched?: boolean;
}

/** slurmctld's log file, if this host has it and may read it. */
function controllerLog(): string | null {
  try {
    const config = execFileSync('scontrol', ['show', 'config'], { encoding: 'utf8' });
    const path = /^SlurmctldLogFile\s*=\s*(\S+)/m.exec(config)?.[1];
    if (!path) return null;
    readFileSync(path, { flag: 'r' });
    return path;
  } catch {
    return null;
  }
}

const median = (values: number[]) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
};

async function trace(argv: readonly string[]): Promise<void> {
  const skip = slurmSkipReason();
  if (skip) throw new Error(skip);
  const runs = numberOption(argv, 'runs', 12);
  const pauseMs = numberOption(argv, 'pause', 2_000);
  const runId = randomBytes(4).toString('hex');
  const lines: DriverLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (text: string) => void lines.push(JSON.parse(text) as DriverLine) });
  const logFile = controllerLog();
  const services = await startServices();
  const rig = await startSlurmRig({
    natsUrl: services.natsUrl,
    redisUrl: services.redisUrl,
    subjectPrefix: `trace${runId}y`,
    keyPrefix: `trace${runId}-slurm`,
    onTransportError: (error, where) => console.error(`trace: transport error at ${where}:`, error),
    slurmConf: process.env.SLURM_CONF!,
    runId,
    logger,
  });
  const traces: Trace[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      await rig.cancelOurs();
      // A random phase against slurmctld's cadence; --pause=ms waits that long first (bench/slurm.ts: a bare job and 0-2 s).
      await sleep(pauseMs + Math.random() * 1_000);
      const t0 = Date.now();
      const spec = {
        product: { id: rig.product.id, category: rig.product.category, provider: SLURM_PROVIDER_ID },
        command: ['sleep', '5'],
        name: `trace-${run}`,
        allowDuplicateJob: true,
        timeAllocation: { minutes: 1 },
      };
      const created = await rig.admin.ok<{ createJobs: { job: { id: string } | null }[] }>(CREATE, { specs: [spec] });
      const t: Trace = { answered: Date.now() - t0 };
      const id = created.createJobs[0]?.job?.id;
      if (!id) throw new Error('createJobs refused the job');
      let slurmId = '';
      for (;;) {
        const data = await rig.admin.ok<{ job: { status: { state: string }; providerGeneratedId: string | null } }>(JOB_STATE, { id });
        slurmId = data.job.providerGeneratedId ?? '';
        if (data.job.status.state === 'RUNNING') break;
        if (Date.now() - t0 > 30_000) throw new Error(`job ${id} was not RUNNING within 30 s`);
        await sleep(20);
      }
      t.graphql = Date.now() - t0;
      await sleep(100);
      const mine = lines.filter((line) => line.jobId === id);
      const at = (line: DriverLine | undefined) => (line ? line.time - t0 : undefined);
      t.sbatch = at(mine.find((l) => l.msg === 'sbatch took the job'));
      const changed = mine.find((l) => l.msg === 'a waiting job’s directory changed');
      t.file = at(changed);
      const launch = mine.find((l) => l.msg.startsWith('Slurm launched a waiting job'));
      const alone = mine.find((l) => l.msg === 'looked at a starting job alone' && l.state === 'RUNNING');
      const row = mine.find((l) => l.msg === 'Slurm’s row moves the job on' && l.state === 'RUNNING');
      const seen = [launch && { how: 'file', line: launch }, alone && { how: 'look alone', line: alone }, row && { how: 'row', line: row }]
        .filter((x): x is { how: string; line: DriverLine } => Boolean(x))
        .sort((a, b) => a.line.time - b.line.time)[0];
      t.driver = at(seen?.line);
      t.how = seen?.how === 'row' && alone ? 'look alone' : seen?.how === 'row' ? 'look at all jobs' : seen?.how;
      if (logFile && slurmId) {
        const allocation = new RegExp(
          `^\\[([^\\]]+)\\] (?:sched: Allocate JobId=${slurmId} |sched/backfill: _start_job: Started JobId=${slurmId} )`,
          'm',
        ).exec(readFileSync(logFile, 'utf8'));
        // slurmctld writes local time without a zone; this host's zone is assumed.
        if (allocation) t.allocated = new Date(allocation[1]!).getTime() - t0;
      }
      traces.push(t);
      console.log(`#${run} ${STEPS.map((step) => `${step} ${t[step] ?? '-'}`).join(', ')} (RUNNING by ${t.how ?? '?'})`);
    }
  } finally {
    await rig.stop();
    await services.stop();
  }
  const byHow = new Map<string, number>();
  for (const t of traces) byHow.set(t.how ?? '?', (byHow.get(t.how ?? '?') ?? 0) + 1);
  console.log(`medians (ms from createJobs): ${STEPS.map((step) => `${step} ${median(traces.map((t) => t[step] ?? NaN))}`).join(', ')}`);
  const gap = (from: (typeof STEPS)[number], to: (typeof STEPS)[number]) => median(traces.map((t) => (t[to] ?? NaN) - (t[from] ?? NaN)));
  console.log(
    `median steps (ms): allocated→file ${gap('allocated', 'file')}, allocated→driver ${gap('allocated', 'driver')}, file→driver ${gap('file', 'driver')}, driver→graphql ${gap('driver', 'graphql')}`,
  );
  console.log(`RUNNING seen by: ${[...byHow].map(([how, n]) => `${how} ${n}`).join(', ')}`);
}

runWhenMain(import.meta.url, trace);
