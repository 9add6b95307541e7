/** Jobs: `run`, `ps`, `status`, `logs`, `kill`, `suspend`, `resume`, `extend`. */
import { Option, type Command } from 'commander';

import type { Api } from '../api.js';
import { durationMs, formatDuration, simpleDuration } from '../durations.js';
import { CliError, EXIT, JobEnded } from '../exit-codes.js';
import { exitCodeOf, followJob } from '../follow.js';
import { collect, integer, keyValue, positiveInteger, positiveNumber } from '../option-values.js';
import { relativeTime, stateText, type Output } from '../output.js';
import type { CommandContext } from '../register.js';

const JOB_FIELDS = `id createdAt providerGeneratedId creditsCharged
  owner { createdBy project }
  specification { name replicas tags command image product { id provider category } timeAllocation { hours minutes seconds } }
  status { state exitCode startedAt expiresAt pendingReason queuePosition }`;
interface JobRow {
  id: string;
  createdAt: string;
  providerGeneratedId: string | null;
  creditsCharged: number;
  owner: { createdBy: string; project: string | null };
  specification: {
    name: string | null;
    replicas: number;
    tags: string[];
    command: string[] | null;
    image: string | null;
    product: { id: string; provider: string; category: string };
    timeAllocation: { hours: number; minutes: number; seconds: number } | null;
  };
  status: {
    state: string;
    exitCode: number | null;
    startedAt: string | null;
    expiresAt: string | null;
    pendingReason: string | null;
    queuePosition: number | null;
  };
}

const CREATE = `mutation ($spec: JobSpecificationInput!) { createJobs(specifications: [$spec]) { job { id status { state pendingReason } specification { replicas } } error { code message } } }`;
const LIST = `query ($filter: JobFilter, $first: Int, $after: String) { jobs(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { ${JOB_FIELDS} } } } }`;
const ONE = `query ($id: ID!) { job(id: $id) { ${JOB_FIELDS} updates { state status timestamp } } }`;
const LOGS = `query ($id: ID!, $since: DateTime, $limit: Int) { job(id: $id) { specification { replicas } logs(since: $since, limit: $limit) { rank stdout stderr timestamp } } }`;

interface ItemResult {
  ok?: boolean;
  error: { code: string; message: string } | null;
}

/** Prints one result per id; exits 1 (after all of them) if any was refused. */
function reportItems(out: Output, verb: string, ids: string[], results: ItemResult[]): void {
  if (out.json) out.document(ids.map((id, i) => ({ id, ...results[i] })));
  let failed = 0;
  ids.forEach((id, i) => {
    const error = results[i]?.error;
    if (error) {
      failed += 1;
      out.note(`${id}: ${error.code}: ${error.message}`);
    } else if (!out.json && !out.quiet) out.line(`${id}: ${verb}`);
  });
  if (failed > 0) throw new CliError(`${failed} of ${ids.length} refused`, EXIT.refused);
}

/** Follows the job to its end (logs, story or both), then exits with its exit code. */
async function endWithJob(api: Api, out: Output, id: string, show: { logs: boolean; updates: boolean }, replicas: number): Promise<never> {
  const final = await followJob(api, out, id, { ...show, rankPrefix: replicas > 1 });
  if (show.updates && !out.quiet && !out.json)
    out.note(`${id} ended: ${final.state}${final.exitCode !== null ? ` (exit code ${final.exitCode})` : ''}`);
  throw new JobEnded(exitCodeOf(final));
}

interface RunOptions {
  product?: string;
  provider?: string;
  cpu?: number;
  memory?: number;
  gpu?: number;
  backend?: string;
  replicas: number;
  time?: string;
  env?: Record<string, string>;
  image?: string;
  tag?: string[];
  name?: string;
  workdir?: string;
  waitFor?: string;
  priority?: number;
  follow?: boolean;
}

/** The job specification `run` sends, from its options and the command after `--`. */
export function runSpecification(command: string[], opts: RunOptions, project: string | undefined): Record<string, unknown> {
  const byRequirements = opts.cpu !== undefined || opts.memory !== undefined || opts.gpu !== undefined || opts.backend !== undefined;
  if (opts.product && byRequirements) throw new CliError('give --product, or requirements (--cpu, --memory, --gpu, --backend), not both', EXIT.usage);
  if (!opts.product && opts.provider && !byRequirements)
    throw new CliError('--provider without --product: give --product, or requirements with --provider to limit routing to it', EXIT.usage);
  if (opts.product && !opts.provider) throw new CliError('--product needs --provider (products are named within their provider)', EXIT.usage);
  return {
    ...(opts.product
      ? { product: { id: opts.product, provider: opts.provider } }
      : {
          requirements: {
            ...(opts.cpu !== undefined ? { cpu: opts.cpu } : {}),
            ...(opts.memory !== undefined ? { memoryInGigs: opts.memory } : {}),
            ...(opts.gpu !== undefined ? { gpu: opts.gpu } : {}),
            ...(opts.backend ? { backend: opts.backend.toUpperCase() } : {}),
            ...(opts.provider ? { providers: [opts.provider] } : {}),
          },
        }),
    ...(command.length ? { command } : {}),
    replicas: opts.replicas,
    ...(opts.time ? { timeAllocation: simpleDuration(opts.time, '--time') } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.image ? { image: opts.image } : {}),
    ...(opts.tag?.length ? { tags: opts.tag } : {}),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.workdir ? { workingDir: opts.workdir } : {}),
    ...(opts.waitFor ? { scheduleTimeout: Math.ceil(durationMs(opts.waitFor, '--wait-for') / 1000) } : {}),
    ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
    ...(project ? { project } : {}),
  };
}

export function registerJobCommands(program: Command, context: CommandContext): void {
  program
    .command('run')
    .description('submit a job: a product, or requirements the gateway routes by; the command after --')
    .argument('[command...]', 'the command and its arguments (after --)')
    .option('--product <id>', 'the product to run on (with --provider)')
    .option('--provider <id>', "the product's provider; with requirements, route to this provider only")
    .option('--cpu <n>', 'requirements: CPUs', positiveNumber)
    .option('--memory <gb>', 'requirements: memory in GB', positiveNumber)
    .option('--gpu <n>', 'requirements: GPUs', positiveInteger)
    .addOption(
      new Option('--backend <backend>', 'requirements: the kind of backend').choices([
        'docker',
        'native',
        'virtual_machine',
        'DOCKER',
        'NATIVE',
        'VIRTUAL_MACHINE',
      ]),
    )
    .option('-n, --replicas <n>', 'ranks', positiveInteger, 1)
    .option('-t, --time <duration>', 'time allocation, e.g. 30m, 2h')
    .option('-e, --env <NAME=VALUE>', 'an environment variable (repeat for more)', keyValue)
    .option('--image <image>', 'container or VM image')
    .option('--tag <tag>', 'a tag (repeat, or comma-separated)', collect)
    .option('--name <name>', 'a name for the job')
    .option('--workdir <dir>', 'working directory')
    .option('--wait-for <duration>', 'wait up to this long at the gateway for room (scheduleTimeout) instead of NO_CAPACITY')
    .option('--priority <n>', 'priority within your workspace', integer)
    .option('-f, --follow', 'stream its story and logs until it ends, and exit with its exit code')
    .action(async (command: string[], opts: RunOptions, cmd: Command) => {
      const { out, api, connection } = context(cmd);
      const spec = runSpecification(command, opts, connection.project ?? process.env.SWITCHYARD_PROJECT);
      const { createJobs } = await api().request<{
        createJobs: {
          job: { id: string; status: { state: string; pendingReason: string | null }; specification: { replicas: number } } | null;
          error: ItemResult['error'];
        }[];
      }>(CREATE, { spec });
      const result = createJobs[0];
      if (!result?.job)
        throw new CliError(
          result?.error ? `${result.error.code}: ${result.error.message}` : 'the gateway answered no job',
          EXIT.refused,
          result?.error?.code,
        );
      const { job } = result;
      // Followed, the job's output owns stdout: its id goes to stderr.
      if (opts.follow) out.note(job.id);
      else if (out.json) out.document(job);
      else if (out.quiet) out.line(job.id);
      else out.line(`${job.id}  ${job.status.state}${job.status.pendingReason ? `: ${job.status.pendingReason}` : ''}`);
      if (opts.follow) await endWithJob(api(), out, job.id, { logs: true, updates: true }, job.specification.replicas);
    });

  program
    .command('ps')
    .description("your jobs (and your workspace's), newest first")
    .option('-s, --state <state>', 'only these states (repeat, or comma-separated): IN_QUEUE, RUNNING, SUSPENDED, SUCCESS, ...', collect)
    .option('--tag <tag>', 'only jobs with these tags', collect)
    .option('--provider <id>', 'only these providers', collect)
    .option('--name <name>', 'only jobs of this name')
    .option('--owner <user>', 'only jobs created by these users', collect)
    .option('--since <duration>', 'only jobs created within this long, e.g. 2h')
    .option('-l, --limit <n>', 'at most this many per page', positiveInteger, 50)
    .option('--after <cursor>', 'the page after this cursor (ps prints it when there are more)')
    .option('-a, --all', 'every page')
    .action(
      async (
        opts: {
          state?: string[];
          tag?: string[];
          provider?: string[];
          name?: string;
          owner?: string[];
          since?: string;
          limit: number;
          after?: string;
          all?: boolean;
        },
        cmd: Command,
      ) => {
        const { out, api, connection } = context(cmd);
        const filter = {
          ...(opts.state ? { states: opts.state.map((s) => s.toUpperCase()) } : {}),
          ...(opts.tag ? { tags: opts.tag } : {}),
          ...(opts.provider ? { providers: opts.provider } : {}),
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.owner ? { createdBy: opts.owner } : {}),
          ...(opts.since ? { createdAfter: new Date(Date.now() - durationMs(opts.since, '--since')).toISOString() } : {}),
          ...((connection.project ?? process.env.SWITCHYARD_PROJECT) ? { project: connection.project ?? process.env.SWITCHYARD_PROJECT } : {}),
        };
        const jobs: JobRow[] = [];
        let after = opts.after ?? null;
        let page: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
        do {
          const { jobs: connectionPage } = await api().request<{
            jobs: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: JobRow }[] };
          }>(LIST, { filter, first: opts.limit, after });
          page = connectionPage;
          jobs.push(...connectionPage.edges.map((e) => e.node));
          after = connectionPage.pageInfo.endCursor;
        } while (opts.all && page.pageInfo.hasNextPage);
        if (out.json) return out.document({ totalCount: page.totalCount, pageInfo: page.pageInfo, jobs });
        // On stderr, so that a script reading the ids (-q) can still page.
        if (page.pageInfo.hasNextPage && page.pageInfo.endCursor)
          out.note(`${jobs.length} of ${page.totalCount}; more with --after ${page.pageInfo.endCursor} (or --all)`);
        if (out.quiet) return jobs.forEach((j) => out.line(j.id));
        out.table(
          ['ID', 'NAME', 'STATE', 'PRODUCT', 'OWNER', 'CREATED', 'EXIT'],
          jobs.map((j) => [
            j.id,
            j.specification.name,
            stateText(out, j.status.state),
            `${j.specification.product.provider}/${j.specification.product.id}`,
            j.owner.project ? `${j.owner.createdBy}@${j.owner.project}` : j.owner.createdBy,
            relativeTime(j.createdAt),
            j.status.exitCode,
          ]),
        );
      },
    );

  program
    .command('status')
    .description('one job: its state, times, place and story')
    .argument('<id>')
    .option('-w, --wait', 'wait until it ends, and exit with its exit code')
    .action(async (id: string, opts: { wait?: boolean }, cmd: Command) => {
      const { out, api } = context(cmd);
      const { job } = await api().request<{
        job: (JobRow & { updates: { state: string | null; status: string | null; timestamp: string }[] }) | null;
      }>(ONE, { id });
      if (!job) throw new CliError(`NOT_FOUND: job ${id} not found`, EXIT.refused, 'NOT_FOUND');
      if (out.json) out.document(job);
      else if (!out.quiet) {
        const s = job.status;
        const rows: [string, string | number | null][] = [
          ['Job', job.id],
          ['Name', job.specification.name],
          [
            'State',
            stateText(out, s.state) +
              (s.pendingReason ? ` (${s.pendingReason})` : '') +
              (s.queuePosition !== null ? `, position ${s.queuePosition}` : ''),
          ],
          ['Exit code', s.exitCode],
          ['Product', `${job.specification.product.provider}/${job.specification.product.id} (${job.specification.product.category})`],
          ['Provider id', job.providerGeneratedId],
          ['Owner', job.owner.project ? `${job.owner.createdBy} in ${job.owner.project}` : job.owner.createdBy],
          ['Command', job.specification.command?.join(' ') ?? null],
          ['Replicas', job.specification.replicas],
          ['Time', formatDuration(job.specification.timeAllocation)],
          ['Created', `${job.createdAt} (${relativeTime(job.createdAt)})`],
          ['Started', s.startedAt ? `${s.startedAt} (${relativeTime(s.startedAt)})` : null],
          ['Expires', s.expiresAt ? `${s.expiresAt} (${relativeTime(s.expiresAt)})` : null],
          ['Charged', `${job.creditsCharged} credits`],
        ];
        for (const [label, value] of rows) out.line(`${`${label}:`.padEnd(13)}${value ?? '-'}`);
        out.line('Story:');
        for (const u of job.updates) out.line(`  ${u.timestamp}  ${[u.state, u.status].filter(Boolean).join(': ')}`);
      } else out.line(job.status.state);
      if (opts.wait) await endWithJob(api(), out, id, { logs: false, updates: true }, job.specification.replicas);
    });

  program
    .command('logs')
    .description("a job's output; -f follows it until the job ends")
    .argument('<id>')
    .option('-f, --follow', 'keep printing new lines until the job ends (then exit with its exit code)')
    .option('--since <duration>', 'only lines from within this long')
    .option('--tail <n>', 'only the last n lines', positiveInteger)
    .action(async (id: string, opts: { follow?: boolean; since?: string; tail?: number }, cmd: Command) => {
      const { out, api } = context(cmd);
      if (opts.follow) {
        const { job } = await api().request<{ job: { specification: { replicas: number } } | null }>(
          `query ($id: ID!) { job(id: $id) { specification { replicas } } }`,
          { id },
        );
        if (!job) throw new CliError(`NOT_FOUND: job ${id} not found`, EXIT.refused, 'NOT_FOUND');
        await endWithJob(api(), out, id, { logs: true, updates: false }, job.specification.replicas);
      }
      const since = opts.since ? new Date(Date.now() - durationMs(opts.since, '--since')).toISOString() : undefined;
      const { job } = await api().request<{
        job: {
          specification: { replicas: number };
          logs: { rank: number; stdout: string | null; stderr: string | null; timestamp: string }[];
        } | null;
      }>(LOGS, { id, since, limit: opts.tail });
      if (!job) throw new CliError(`NOT_FOUND: job ${id} not found`, EXIT.refused, 'NOT_FOUND');
      if (out.json) return out.document(job.logs);
      const prefix = job.specification.replicas > 1;
      for (const l of job.logs) {
        if (l.stdout !== null) process.stdout.write(`${prefix ? `[${l.rank}] ` : ''}${l.stdout}\n`);
        if (l.stderr !== null) process.stderr.write(`${prefix ? `[${l.rank}] ` : ''}${l.stderr}\n`);
      }
    });

  const bulk = (name: string, description: string, mutation: string, field: string, verb: string) =>
    program
      .command(name)
      .description(description)
      .argument('<ids...>')
      .action(async (ids: string[], _opts: unknown, cmd: Command) => {
        const { out, api } = context(cmd);
        const answer = await api().request<Record<string, ItemResult[]>>(mutation, { ids });
        reportItems(out, verb, ids, answer[field] ?? []);
      });
  bulk(
    'kill',
    'stop jobs (several ids at once)',
    'mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok error { code message } } }',
    'terminateJobs',
    'stopping',
  );
  bulk(
    'suspend',
    'suspend running jobs',
    'mutation ($ids: [ID!]!) { suspendJobs(ids: $ids) { ok error { code message } } }',
    'suspendJobs',
    'suspending',
  );
  bulk(
    'resume',
    'resume suspended jobs',
    'mutation ($ids: [ID!]!) { unsuspendJobs(ids: $ids) { ok error { code message } } }',
    'unsuspendJobs',
    'resuming',
  );

  program
    .command('extend')
    .description('give jobs more time')
    .argument('<ids...>')
    .requiredOption('-t, --time <duration>', 'how much more, e.g. 30m')
    .action(async (ids: string[], opts: { time: string }, cmd: Command) => {
      const { out, api } = context(cmd);
      const requestedTime = simpleDuration(opts.time, '--time');
      const { extendJobs } = await api().request<{ extendJobs: ItemResult[] }>(
        'mutation ($items: [JobExtendInput!]!) { extendJobs(items: $items) { ok error { code message } } }',
        {
          items: ids.map((jobId) => ({ jobId, requestedTime })),
        },
      );
      reportItems(out, `extended by ${formatDuration(requestedTime)}`, ids, extendJobs);
    });
}
