/**
 * The Shakudo schema's resolvers, on the core: sessions and immediate pipeline
 * jobs are orchestrator jobs, scheduled pipeline jobs the core's schedules,
 * service jobs its services, billing projects its projects, git servers the
 * store's repositories. Every read goes through the core's access rules (the
 * viewer sees what the core API would show it); every change through the same
 * calls the core API makes.
 */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { z } from 'zod';

import type { Job } from '../../../shared/domain.js';
import { ForbiddenError, InvalidInputError, NotFoundError, SwitchyardError, type ErrorBody } from '../../../shared/errors.js';
import type { Viewer } from '../../access/auth.js';
import { canSeeRecord } from '../../access/recurring-access.js';
import { MAX_PAGE_SIZE } from '../../jobs/job-queries.js';
import type { JobSpecificationInput } from '../../jobs/job-specification.js';
import type { ScheduleRecord } from '../../schedules/schedules.js';
import type { ServiceRecord } from '../../services/services.js';
import { createRecurring } from '../../store/recurring-update.js';
import type { RecurringRecord, RecurringRecords } from '../../store/store.js';
import type { DialectCore } from '../dialect.js';
import {
  emailOf,
  envOf,
  isSession,
  metaOf,
  parameterId,
  parseParameterId,
  pipelineCommand,
  pipelineRowOfJob,
  pipelineRowOfSchedule,
  pipelineRowOfService,
  readImmediateTimeout,
  SESSION_COMMAND,
  SESSION_TAG,
  sessionRow,
  userOfEmail,
  type ShakudoMeta,
  type ShakudoStatus,
} from './shakudo-views.js';
import { findMany, matchesWhere, singleOrder, UnsupportedFilterError, type ListArguments, type Row } from './shakudo-where.js';

export interface ShakudoContext {
  viewer: Viewer;
  /** Rows loaded once per request, as several fields of one operation read them. */
  cache: Map<string, Promise<unknown>>;
}

export interface GitServerDoc {
  name: string;
  url: string;
  defaultBranch: string;
  createdAt: number;
}

/** The pod spec the get*PodSpec queries answer and createPipelineJob / createHyperHubSession take back. */
const POD_SPEC_KIND = 'SwitchyardPodSpec';

/** A GraphQL error in the shape Shakudo's Apollo server answers: a message and `extensions.code`, with the core's code beside it. */
export function shakudoError(message: string, switchyardCode: string, status?: number): GraphQLError {
  const code: Record<string, string> = {
    UNAUTHENTICATED: 'UNAUTHENTICATED',
    FORBIDDEN: 'FORBIDDEN',
    INSUFFICIENT_FUNDS: 'FORBIDDEN',
    QUOTA_EXCEEDED: 'FORBIDDEN',
    NOT_FOUND: 'NOT_FOUND',
    UNSUPPORTED: 'UNSUPPORTED',
    PROVIDER_UNAVAILABLE: 'INTERNAL_SERVER_ERROR',
    INTERNAL: 'INTERNAL_SERVER_ERROR',
  };
  return new GraphQLError(message, {
    extensions: { code: code[switchyardCode] ?? 'BAD_USER_INPUT', switchyardCode, ...(status ? { http: { status } } : {}) },
  });
}

export const unsupported = (what: string, why: string) => shakudoError(`${what} is not supported by Switchyard: ${why}`, 'UNSUPPORTED');

/** A core error as a GraphQL error; anything else is left for the server to mask. */
export function fromCore(error: unknown): unknown {
  if (error instanceof SwitchyardError) return shakudoError(error.message, error.code);
  if (error instanceof UnsupportedFilterError) return shakudoError(error.message, 'INVALID_INPUT');
  return error;
}

const failed = (body: ErrorBody) => shakudoError(body.message, body.code);

const IntOrImmediate = new GraphQLScalarType({
  name: 'IntOrImmediate',
  serialize: (value) => value,
  parseValue(value) {
    if (value === 'immediate' || Number.isInteger(value)) return value;
    throw new GraphQLError('IntOrImmediate is an Int or "immediate"');
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.INT) return Number(ast.value);
    if (ast.kind === Kind.STRING && ast.value === 'immediate') return 'immediate';
    throw new GraphQLError('IntOrImmediate is an Int or "immediate"');
  },
});

const passThrough = (name: string) =>
  new GraphQLScalarType({
    name,
    serialize: (value) => value,
    parseValue: (value) => value,
    parseLiteral(ast) {
      const read = (node: typeof ast): unknown => {
        switch (node.kind) {
          case Kind.STRING:
          case Kind.ENUM:
            return node.value;
          case Kind.INT:
          case Kind.FLOAT:
            return Number(node.value);
          case Kind.BOOLEAN:
            return node.value;
          case Kind.NULL:
            return null;
          case Kind.LIST:
            return node.values.map(read);
          case Kind.OBJECT:
            return Object.fromEntries(node.fields.map((field) => [field.name.value, read(field.value)]));
          default:
            throw new GraphQLError(`${name} cannot take a variable inside a literal`);
        }
      };
      return read(ast);
    },
  });

const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => value,
  parseValue(value) {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw new GraphQLError('DateTime is an ISO 8601 date and time');
    return value;
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING || Number.isNaN(Date.parse(ast.value))) throw new GraphQLError('DateTime is an ISO 8601 date and time');
    return ast.value;
  },
});

const gitServerSchema = z.object({
  name: z.string().trim().min(1).max(200),
  // ssh (git@host:org/repo.git), https or file URLs: one token, no shell characters.
  url: z
    .string()
    .min(1)
    .max(2000)
    .regex(/^[A-Za-z0-9@:/._~+%=-]+$/, 'is a git URL (git@host:org/repo.git, https://..., file://...)'),
  defaultBranch: z
    .string()
    .max(255)
    .regex(/^[A-Za-z0-9._/-]*$/)
    .nullish(),
});

const podSpecSchema = z
  .object({
    kind: z.literal(POD_SPEC_KIND),
    jobType: z.string().nullish(),
    imageUrl: z.string().nullish(),
    pipelineYamlPath: z.string().nullish(),
    branchName: z.string().nullish(),
    commitId: z.string().nullish(),
    gitServerName: z.string().nullish(),
    exposedPort: z.string().nullish(),
    userPvcName: z.string().nullish(),
    parameters: z.array(z.object({ key: z.string(), value: z.string().nullish() })).nullish(),
  })
  .passthrough();
type PodSpec = z.infer<typeof podSpecSchema>;

/** The pod spec given back, or UNSUPPORTED for any other (a Kubernetes pod spec: Switchyard runs no pods of its own). */
function readPodSpec(value: unknown): PodSpec | null {
  if (value === undefined || value === null) return null;
  const parsed = podSpecSchema.safeParse(typeof value === 'string' ? safeJson(value) : value);
  if (!parsed.success)
    throw unsupported(
      'A pod spec other than one getPipelineJobPodSpec, getUserServicePodSpec or getHyperhubSessionPodSpec answered',
      'Switchyard runs jobs, not Kubernetes pod specs',
    );
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

type Args = Record<string, any>;

/** The Shakudo statuses a stat counts. */
const STAT_STATUSES: Record<string, ShakudoStatus | null> = {
  COUNT_ALL: null,
  COUNT_CANCELLED: 'cancelled',
  COUNT_DONE: 'done',
  COUNT_FAILED: 'failed',
  COUNT_IN_PROGRESS: 'in progress',
  COUNT_PENDING: 'pending',
  COUNT_SCHEDULED: 'scheduled',
  COUNT_TIMED_OUT: 'timed out',
};
const TIME_FRAMES_MS: Record<string, number | null> = { TOTAL: null, T_10M: 600_000, T_1H: 3_600_000, T_24H: 86_400_000 };
const FINAL_STATUSES = new Set<string>(['done', 'failed', 'cancelled', 'timed out']);

/** Emails are matched by the user they name: `hyperplaneUserEmail: {equals}` (and `in`) compare users, whatever the domain. */
function byUser(where: unknown, emailField: string, userField: string): unknown {
  if (Array.isArray(where)) return where.map((part) => byUser(part, emailField, userField));
  if (typeof where !== 'object' || where === null) return where;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(where)) {
    if (key === emailField && value && typeof value === 'object') {
      const { equals, in: among, ...rest } = value as Record<string, unknown>;
      if (Object.keys(rest).length) out[key] = rest;
      const users: Record<string, unknown> = {};
      if (typeof equals === 'string') users.equals = userOfEmail(equals);
      else if (equals !== undefined) users.equals = equals;
      if (Array.isArray(among)) users.in = among.map((email) => (typeof email === 'string' ? userOfEmail(email) : email));
      if (Object.keys(users).length) out[userField] = users;
    } else out[key] = ['AND', 'OR', 'NOT'].includes(key) ? byUser(value, emailField, userField) : value;
  }
  return out;
}

export function createShakudoResolvers(core: DialectCore) {
  const { orchestrator, schedules, services, projects, registry, clock } = core;
  const repositories = core.store.repositories as RecurringRecords<GitServerDoc>;

  const memo = <T>(ctx: ShakudoContext, key: string, load: () => Promise<T>): Promise<T> => {
    let found = ctx.cache.get(key) as Promise<T> | undefined;
    if (!found) ctx.cache.set(key, (found = load()));
    return found;
  };

  /** Every job the viewer sees in its own workspace (newest first), through the core's pages. */
  const jobsOf = (ctx: ShakudoContext) =>
    memo(ctx, 'jobs', async () => {
      const jobs: Job[] = [];
      let after: string | null = null;
      do {
        const page = await orchestrator.listJobs(ctx.viewer, {}, { first: MAX_PAGE_SIZE, after, order: 'DESC' });
        jobs.push(...page.jobs);
        after = page.hasNextPage ? page.endCursor : null;
      } while (after);
      return jobs;
    });

  /** The viewer's own workspace and its projects: where its schedules and services are. */
  const workspaces = (viewer: Viewer) => [null, ...viewer.projects];

  const schedulesOf = (ctx: ShakudoContext) =>
    memo(ctx, 'schedules', async () => (await Promise.all(workspaces(ctx.viewer).map((p) => schedules.list(ctx.viewer, p)))).flat());

  const servicesOf = (ctx: ShakudoContext) =>
    memo(ctx, 'services', async () => (await Promise.all(workspaces(ctx.viewer).map((p) => services.list(ctx.viewer, p)))).flat());

  const currentJob = async (ctx: ShakudoContext, record: ServiceRecord) =>
    record.doc.currentJobId ? orchestrator.getJob(ctx.viewer, record.doc.currentJobId).catch(() => null) : null;

  const serviceRow = async (ctx: ShakudoContext, record: ServiceRecord) => pipelineRowOfService(record, await currentJob(ctx, record));

  const productOf = (job: Job) => registry.product(job.providerId, job.specification.product.id);

  const sessionRows = async (ctx: ShakudoContext) => (await jobsOf(ctx)).filter(isSession).map((job) => sessionRow(job, productOf(job)));

  /** Every pipeline job the viewer sees: its jobs (not sessions, not a service's runs), schedules and services. */
  const pipelineRows = (ctx: ShakudoContext) =>
    memo(ctx, 'pipelines', async () => {
      const jobs = (await jobsOf(ctx)).filter((job) => !isSession(job) && job.origin?.kind !== 'service').map(pipelineRowOfJob);
      const scheduled = (await schedulesOf(ctx)).map(pipelineRowOfSchedule);
      const kept = await Promise.all((await servicesOf(ctx)).map((record) => serviceRow(ctx, record)));
      return [...jobs, ...scheduled, ...kept];
    });

  /**
   * pipelineJobs as findMany over pipelineRows answers it, reading the viewer's jobs page by
   * page, newest first, only as far as the page asked for needs: when it is unordered (jobs
   * come first, then schedules and services) or newest first (the rest merged in by start
   * time, a job first on a tie, as the stable sort keeps it). Job ids are uuid v7 minted at
   * creation, so the store's newest first is by start time.
   */
  const pipelinePage = async (ctx: ShakudoContext, args: ListArguments): Promise<Row[]> => {
    const order = singleOrder(args.orderBy);
    const newestFirst = order !== null && order !== 'none' && order[0] === 'startTime' && order[1] === 'desc';
    if ((order !== 'none' && !newestFirst) || args.take === undefined || args.take === null) return findMany(await pipelineRows(ctx), args);
    const wanted = (args.skip ?? 0) + args.take;
    const kept = await Promise.all((await servicesOf(ctx)).map((record) => serviceRow(ctx, record)));
    const others = [...(await schedulesOf(ctx)).map(pipelineRowOfSchedule), ...kept];
    const rest = newestFirst ? findMany(others, { orderBy: args.orderBy }) : others;
    const rows: Row[] = [];
    const add = (row: Row) => matchesWhere(row, args.where) && rows.push(row);
    const startOf = (row: Row) => Date.parse(row.startTime as string);
    let next = 0;
    let after: string | null = null;
    let first = Math.min(MAX_PAGE_SIZE, wanted + 1);
    do {
      const page = await orchestrator.listJobs(ctx.viewer, {}, { first, after, order: 'DESC' });
      for (const job of page.jobs) {
        if (isSession(job) || job.origin?.kind === 'service') continue;
        const row = pipelineRowOfJob(job);
        while (newestFirst && next < rest.length && startOf(rest[next]!) > startOf(row)) add(rest[next++]!);
        add(row);
      }
      after = page.hasNextPage ? page.endCursor : null;
      first = MAX_PAGE_SIZE;
    } while (after && rows.length < wanted);
    // Every row still to come sorts after the ones taken.
    if (!after) rest.slice(next).forEach(add);
    return findMany(rows, args);
  };

  type Target = { kind: 'job'; job: Job } | { kind: 'schedule'; record: ScheduleRecord } | { kind: 'service'; record: ServiceRecord };

  /** The job, schedule or service of a pipeline job's id; NOT_FOUND (null with `orNull`) when the viewer may not see one. */
  const findTarget = async (viewer: Viewer, id: string): Promise<Target | null> => {
    const job = await orchestrator.getJob(viewer, id).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
    if (job) return !isSession(job) && job.origin?.kind !== 'service' ? { kind: 'job', job } : null;
    const notFound = (error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    };
    const schedule = await schedules.get(viewer, id).catch(notFound);
    if (schedule) return { kind: 'schedule', record: schedule };
    const service = await services.get(viewer, id).catch(notFound);
    return service ? { kind: 'service', record: service } : null;
  };

  const rowOf = async (ctx: ShakudoContext, target: Target): Promise<Row> =>
    target.kind === 'job'
      ? pipelineRowOfJob(target.job)
      : target.kind === 'schedule'
        ? pipelineRowOfSchedule(target.record)
        : serviceRow(ctx, target.record);

  const reloadRow = async (ctx: ShakudoContext, id: string): Promise<Row | null> => {
    const target = await findTarget(ctx.viewer, id);
    return target ? rowOf(ctx, target) : null;
  };

  const sessionJob = async (viewer: Viewer, id: string): Promise<Job> => {
    const job = await orchestrator.getJob(viewer, id);
    if (!isSession(job)) throw new NotFoundError('session', id);
    return job;
  };

  /** Switchyard makes jobs as the caller: the email (and user id) a create names must be the caller's. */
  const checkCaller = (viewer: Viewer, email: string | null | undefined, userId: string | null | undefined) => {
    for (const named of [email ? userOfEmail(email) : null, userId ?? null]) {
      if (named !== null && named !== viewer.username)
        throw new ForbiddenError(`Switchyard creates jobs as the caller (${viewer.username}), not as ${named}`);
    }
  };

  const billingProject = async (viewer: Viewer, id: string | null | undefined): Promise<string | null> => {
    if (!id) return null;
    await projects.get(viewer, id);
    return id;
  };

  const gitServer = async (viewer: Viewer, id: string): Promise<RecurringRecord<GitServerDoc>> => {
    const record = await repositories.get(id);
    if (!record || !canSeeRecord(viewer, record)) throw new NotFoundError('git server', id);
    return record;
  };

  const gitServerRows = async (ctx: ShakudoContext): Promise<Row[]> =>
    memo(ctx, 'git', async () =>
      (await Promise.all(workspaces(ctx.viewer).map((project) => repositories.list({ createdBy: ctx.viewer.username, project }))))
        .flat()
        .filter((record) => canSeeRecord(ctx.viewer, record))
        .map(gitServerRow),
    );

  const gitServerRow = (record: RecurringRecord<GitServerDoc>): Row => ({
    id: record.id,
    name: record.doc.name,
    url: record.doc.url,
    defaultBranch: record.doc.defaultBranch,
    // Switchyard clones a git server for each job that uses it: there is nothing to set up before.
    status: 'CREATED',
    serviceUrl: null,
  });

  const createdJob = async (viewer: Viewer, spec: JobSpecificationInput): Promise<Job> => {
    const [outcome] = await orchestrator.createJobs(viewer, [spec]);
    if (!outcome) throw shakudoError('No outcome for the job', 'INTERNAL');
    if (!outcome.ok) throw failed(outcome.error);
    return outcome.value;
  };

  /** Parameters given on a create: `create` and `createMany.data`; `connect` has nothing to connect (parameters belong to one job). */
  const givenParameters = (input: Args | null | undefined, podSpec: PodSpec | null): ShakudoMeta['parameters'] => {
    if (input?.connect) throw unsupported('parameters.connect', 'a parameter belongs to the one job it was made with');
    const list = [...(input?.create ?? []), ...(input?.createMany?.data ?? []), ...(podSpec?.parameters ?? [])] as {
      key: string;
      value?: string | null;
    }[];
    return list.map(({ key, value }) => ({ key, value: value ?? null }));
  };

  /** Changes a scheduled job's or a service's parameters: the template its next jobs are made from. */
  const changeParameters = async (viewer: Viewer, pipelineJobId: string, change: (list: ShakudoMeta['parameters']) => ShakudoMeta['parameters']) => {
    const target = await findTarget(viewer, pipelineJobId);
    if (!target) throw new NotFoundError('pipeline job', pipelineJobId);
    if (target.kind === 'job')
      throw unsupported(
        "Changing an immediate job's parameters",
        'a job runs with the environment it was submitted with; change a scheduled job or a service',
      );
    const input = target.record.doc.input;
    const meta = metaOf(input);
    if (!meta) throw unsupported('Changing the parameters of a schedule or service made through the core API', 'it has no Shakudo parameters');
    const parameters = change(meta.parameters);
    const specification: JobSpecificationInput = {
      ...input,
      env: envOf(parameters),
      parameters: { shakudo: { ...meta, parameters } },
    };
    return target.kind === 'schedule'
      ? schedules.updateSpecification(viewer, pipelineJobId, specification)
      : services.updateSpecification(viewer, pipelineJobId, specification);
  };

  /** Cancels one pipeline job: a job is terminated, a schedule paused, a service stopped. False when there was nothing to cancel. */
  const cancel = async (viewer: Viewer, target: Target): Promise<boolean> => {
    if (target.kind === 'job') {
      const [outcome] = await orchestrator.terminateJobs(viewer, [target.job.id]);
      if (outcome && !outcome.ok && outcome.error.code !== 'INVALID_STATE') throw failed(outcome.error);
      return Boolean(outcome?.ok);
    }
    if (target.kind === 'schedule') {
      if (target.record.doc.paused) return false;
      await schedules.pause(viewer, target.record.id);
      return true;
    }
    if (target.record.doc.state === 'STOPPED') return false;
    await services.stopService(viewer, target.record.id);
    return true;
  };

  const onlyCancel = (status: { set?: string | null } | null | undefined, what: string) => {
    if (status === undefined || status === null) return false;
    if (status.set !== 'cancelled')
      throw unsupported(
        `Setting the status of ${what} to ${JSON.stringify(status.set)}`,
        'statuses follow the job; only "cancelled" (stop it) is a request',
      );
    return true;
  };

  const podSpecOf = (args: Args, kind: 'session' | 'pipeline' | 'service') => {
    return {
      kind: POD_SPEC_KIND,
      for: kind,
      jobType: args.jobType || args.imageType || 'basic',
      imageUrl: args.imageUrl || null,
      pipelineYamlPath: args.pipelineYamlPath || null,
      branchName: args.branchName || null,
      commitId: args.commitId || null,
      gitServerName: args.gitServerName || null,
      exposedPort: kind === 'service' ? args.exposedPort || '8787' : null,
      userPvcName: args.userPvcName || null,
      userEmail: args.userEmail || null,
      parameters: ((args.parameters?.parameters ?? []) as { key: string; value?: string | null }[]).map(({ key, value }) => ({
        key,
        value: value ?? null,
      })),
    };
  };

  const wrap =
    <A extends unknown[], T>(fn: (...args: A) => Promise<T>) =>
    async (...args: A): Promise<T> => {
      try {
        return await fn(...args);
      } catch (error) {
        throw fromCore(error);
      }
    };

  const Query = {
    hyperHubSessions: async (_: unknown, args: ListArguments, ctx: ShakudoContext) =>
      findMany(await sessionRows(ctx), { ...args, where: byUser(args.where, 'hyperplaneUserEmail', 'owner') }),
    countHyperHubSessions: async (_: unknown, args: { whereOveride?: unknown }, ctx: ShakudoContext) =>
      (await sessionRows(ctx)).filter((row) => matchesWhere(row, byUser(args.whereOveride, 'hyperplaneUserEmail', 'owner'))).length,
    hyperplaneUsers: async (_: unknown, args: ListArguments, ctx: ShakudoContext) => {
      const names = ctx.viewer.admin ? (await core.auth.listUsers(ctx.viewer)).map((user) => user.username) : [ctx.viewer.username];
      const asked = (args.where as { email?: { equals?: unknown } } | undefined)?.email?.equals;
      const rows = names.map((id) => ({ id, email: typeof asked === 'string' && userOfEmail(asked) === id ? asked : emailOf(id) }));
      return findMany(rows, { ...args, where: byUser(args.where, 'email', 'id') });
    },
    billingProjects: async (_: unknown, args: ListArguments, ctx: ShakudoContext) =>
      findMany(
        (await projects.list(ctx.viewer, false)).map((project) => ({ id: project.id, name: project.title })),
        args,
      ),
    // Switchyard keeps no drives: a job's files live in its own working directory.
    userPvcs: async (_: unknown, args: ListArguments) => findMany([], args),
    pipelineJobs: async (_: unknown, args: ListArguments, ctx: ShakudoContext) =>
      pipelinePage(ctx, { ...args, where: byUser(readImmediateTimeout(args.where), 'hyperplaneUserEmail', 'owner') }),
    pipelineJob: async (_: unknown, args: { where: { id?: string | null } }, ctx: ShakudoContext) =>
      args.where.id ? reloadRow(ctx, args.where.id) : null,
    parameters: async (_: unknown, args: ListArguments, ctx: ShakudoContext) =>
      findMany(
        (await pipelineRows(ctx)).flatMap((row) => row.parameters as Row[]),
        args,
      ),
    hyperplaneVCServers: async (_: unknown, args: ListArguments, ctx: ShakudoContext) => findMany(await gitServerRows(ctx), args),
    getJobStat: async (_: unknown, args: { stat: string; status?: string | null; timeFrame: string }, ctx: ShakudoContext) => {
      if (args.stat === 'COUNT_TRIGGERED' || args.status === 'TRIGGERED')
        throw unsupported('Triggered jobs', 'Switchyard has no event triggers; jobs are immediate, scheduled or services');
      const wanted = STAT_STATUSES[args.stat] ?? null;
      const window = TIME_FRAMES_MS[args.timeFrame] ?? null;
      const since = window === null ? null : clock.now() - window;
      return (await pipelineRows(ctx)).filter((row) => {
        if (wanted !== null && row.status !== wanted) return false;
        if (since !== null && Date.parse(row.startTime as string) < since) return false;
        // SCHEDULED: scheduled jobs and the jobs their firings made.
        if (args.status === 'SCHEDULED' && row.schedule === 'immediate') return false;
        return true;
      }).length;
    },
    getHyperhubSessionPodSpec: async (_: unknown, args: Args) => podSpecOf(args, 'session'),
    getPipelineJobPodSpec: async (_: unknown, args: Args) => podSpecOf(args, 'pipeline'),
    getUserServicePodSpec: async (_: unknown, args: Args) => podSpecOf(args, 'service'),
  };

  const Mutation = {
    createHyperHubSession: async (_: unknown, { data }: { data: Args }, ctx: ShakudoContext) => {
      const { viewer } = ctx;
      checkCaller(viewer, data.hyperplaneUserEmail, data.hyperplaneUser?.connect?.id ?? data.hyperplaneUserId);
      const podSpec = readPodSpec(data.podSpec);
      const userPvcName = data.userPvcName || podSpec?.userPvcName || '';
      if (data.userPvc || userPvcName)
        throw unsupported('A drive (userPvc)', "Switchyard keeps no drives; a session's files live in its own working directory");
      const project = await billingProject(viewer, data.billingProject?.connect?.id ?? data.billingProjectId?.connect?.id);
      const timeout = data.timeout ?? -1;
      if (!Number.isInteger(timeout) || timeout === 0 || timeout < -1) throw new InvalidInputError('timeout is -1 (never) or a number of seconds');
      const image = data.imageHash || data.imageUrl || podSpec?.imageUrl || '';
      const meta: ShakudoMeta = {
        kind: 'session',
        email: data.hyperplaneUserEmail,
        imageType: data.imageType || podSpec?.jobType || 'basic',
        imageHash: image,
        timeout,
        activeTimeout: timeout,
        maxRetries: 0,
        pipelineYamlPath: null,
        jobName: null,
        schedule: 'immediate',
        timezone: 'UTC',
        exposedPort: null,
        branchName: null,
        commitId: null,
        gitServerId: null,
        jobCommand: null,
        collaborative: data.collaborative ?? false,
        userPvcName: '',
        parameters: [],
      };
      const job = await createdJob(viewer, {
        requirements: { cpu: 1 },
        command: SESSION_COMMAND,
        image: image || null,
        name: 'session',
        tags: [SESSION_TAG],
        sshEnabled: true,
        allowDuplicateJob: true,
        timeAllocation: timeout > 0 ? { seconds: timeout } : null,
        project,
        parameters: { shakudo: meta },
      });
      return sessionRow(job, productOf(job));
    },

    updateHyperHubSession: async (_: unknown, args: { where: { id?: string | null }; data: Args }, ctx: ShakudoContext) => {
      if (!args.where.id) throw new InvalidInputError('where.id names the session');
      const job = await sessionJob(ctx.viewer, args.where.id);
      let cancelled = false;
      if (onlyCancel(args.data.status, 'a session')) {
        const [outcome] = await orchestrator.terminateJobs(ctx.viewer, [job.id]);
        if (outcome && !outcome.ok && outcome.error.code !== 'INVALID_STATE') throw failed(outcome.error);
        cancelled = Boolean(outcome?.ok);
      }
      const now = await sessionJob(ctx.viewer, job.id);
      // A termination just asked for is the session's status, as Shakudo answers the status it set.
      return { ...sessionRow(now, productOf(now)), ...(cancelled ? { status: 'cancelled' } : {}) };
    },

    createPipelineJob: async (_: unknown, { data }: { data: Args }, ctx: ShakudoContext) => {
      const { viewer } = ctx;
      checkCaller(viewer, data.hyperplaneUserEmail, data.hyperplaneUser?.connect?.id);
      const podSpec = readPodSpec(data.podSpec);
      const schedule = ((data.schedule as string | null | undefined) ?? 'immediate').trim() || 'immediate';
      const exposedPort = data.exposedPort ?? podSpec?.exposedPort ?? null;
      if (exposedPort !== null && schedule !== 'immediate')
        throw unsupported('A scheduled service', 'a service runs from its creation on; give schedule "immediate"');
      const timeout = data.timeout ?? -1;
      const activeTimeout = data.activeTimeout ?? -1;
      for (const [name, value] of Object.entries({ timeout, activeTimeout, maxRetries: data.maxRetries ?? 0 })) {
        if (!Number.isInteger(value) || value < -1 || (name !== 'maxRetries' && value === 0))
          throw new InvalidInputError(`${name} is -1 (never) or a positive number of seconds`);
      }
      const pipelineYamlPath = data.pipelineYamlPath ?? podSpec?.pipelineYamlPath ?? null;
      if (!pipelineYamlPath && !data.jobCommand) throw new InvalidInputError('pipelineYamlPath names the pipeline YAML to run');
      let git: RecurringRecord<GitServerDoc> | null = null;
      const gitId = data.hyperplaneVCServer?.connect?.id as string | undefined;
      if (gitId) git = await gitServer(viewer, gitId);
      else if (podSpec?.gitServerName) {
        git = ((await gitServerRows(ctx)).find((row) => row.name === podSpec.gitServerName) as RecurringRecord<GitServerDoc> | undefined) ?? null;
        if (!git) throw new NotFoundError('git server', podSpec.gitServerName);
        git = await gitServer(viewer, (git as unknown as Row).id as string);
      }
      const parameters = givenParameters(data.parameters, podSpec);
      const project = await billingProject(viewer, data.billingProject?.connect?.id);
      const meta: ShakudoMeta = {
        kind: 'pipeline',
        email: data.hyperplaneUserEmail ?? emailOf(viewer.username),
        imageType: data.jobType || podSpec?.jobType || 'basic',
        imageHash: data.imageHash || podSpec?.imageUrl || '',
        timeout,
        activeTimeout,
        maxRetries: data.maxRetries ?? 0,
        pipelineYamlPath,
        jobName: data.jobName ?? null,
        schedule,
        timezone: data.timezone ?? 'UTC',
        exposedPort,
        branchName: data.branchName ?? podSpec?.branchName ?? null,
        commitId: data.commitId ?? podSpec?.commitId ?? null,
        gitServerId: git?.id ?? null,
        jobCommand: data.jobCommand ?? null,
        collaborative: false,
        userPvcName: '',
        parameters,
      };
      const runFor = activeTimeout > 0 ? activeTimeout : timeout > 0 ? timeout : null;
      const spec: JobSpecificationInput = {
        requirements: { cpu: 1 },
        command: pipelineCommand(meta, git ? { url: git.doc.url, defaultBranch: git.doc.defaultBranch } : null),
        image: meta.imageHash || null,
        name: meta.jobName || null,
        env: envOf(parameters),
        workingDir: data.workingDir ?? null,
        allowDuplicateJob: true,
        timeAllocation: runFor === null ? null : { seconds: runFor },
        scheduleTimeout: timeout > 0 ? timeout : null,
        project,
        parameters: { shakudo: meta },
      };
      if (exposedPort !== null) return serviceRow(ctx, await services.create(viewer, { name: meta.jobName || null, specification: spec }));
      if (schedule !== 'immediate')
        return pipelineRowOfSchedule(
          await schedules.create(viewer, { name: meta.jobName || null, cron: schedule, timeZone: meta.timezone, specification: spec }),
        );
      return pipelineRowOfJob(await createdJob(viewer, spec));
    },

    updatePipelineJob: async (_: unknown, args: { where: { id?: string | null }; data: Args }, ctx: ShakudoContext) => {
      const id = args.where.id;
      if (!id) throw new InvalidInputError('where.id names the pipeline job');
      const target = await findTarget(ctx.viewer, id);
      if (!target) throw new NotFoundError('pipeline job', id);
      const change = args.data.parameters as Args | undefined;
      if (change) {
        const gone = new Set(
          [...(change.disconnect ?? []), ...(change.delete ?? [])].map(
            (where: { id?: string | null }) => parseParameterId(where.id ?? '')?.key ?? '',
          ),
        );
        const added = givenParameters({ create: change.create }, null);
        await changeParameters(ctx.viewer, id, (list) => [...list.filter((p) => !gone.has(p.key)), ...added]);
      }
      if (onlyCancel(args.data.status, 'a pipeline job')) await cancel(ctx.viewer, target);
      return reloadRow(ctx, id);
    },

    updateManyPipelineJob: async (_: unknown, args: { where?: unknown; data: Args }, ctx: ShakudoContext) => {
      if (!onlyCancel(args.data.status, 'pipeline jobs')) return { count: 0 };
      const rows = (await pipelineRows(ctx)).filter((row) =>
        matchesWhere(row, byUser(readImmediateTimeout(args.where), 'hyperplaneUserEmail', 'owner')),
      );
      let count = 0;
      for (const row of rows) {
        if (FINAL_STATUSES.has(row.status as string)) continue;
        const target = await findTarget(ctx.viewer, row.id as string);
        if (target && (await cancel(ctx.viewer, target))) count++;
      }
      return { count };
    },

    updateParameter: async (_: unknown, args: { where: { id?: string | null }; data: Args }, ctx: ShakudoContext) => {
      const parsed = parseParameterId(args.where.id ?? '');
      if (!parsed) throw new NotFoundError('parameter', String(args.where.id));
      const key = args.data.key?.set ?? parsed.key;
      let found = false;
      await changeParameters(ctx.viewer, parsed.pipelineJobId, (list) =>
        list.map((p) => {
          if (p.key !== parsed.key) return p;
          found = true;
          return { key, value: args.data.value === undefined || args.data.value === null ? p.value : (args.data.value.set ?? null) };
        }),
      );
      if (!found) throw new NotFoundError('parameter', args.where.id!);
      const row = await reloadRow(ctx, parsed.pipelineJobId);
      return (row?.parameters as Row[]).find((p) => p.id === parameterId(parsed.pipelineJobId, key)) ?? null;
    },

    deleteParameter: async (_: unknown, args: { where: { id?: string | null } }, ctx: ShakudoContext) => {
      const parsed = parseParameterId(args.where.id ?? '');
      if (!parsed) throw new NotFoundError('parameter', String(args.where.id));
      const before = await reloadRow(ctx, parsed.pipelineJobId);
      const row = (before?.parameters as Row[] | undefined)?.find((p) => p.key === parsed.key);
      if (!row) throw new NotFoundError('parameter', args.where.id!);
      await changeParameters(ctx.viewer, parsed.pipelineJobId, (list) => list.filter((p) => p.key !== parsed.key));
      return row;
    },

    createHyperplaneVCServer: async (_: unknown, { data }: { data: Args }, ctx: ShakudoContext) => {
      const parsed = gitServerSchema.safeParse(data);
      if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const owner = { createdBy: ctx.viewer.username, project: ctx.viewer.workspace };
      const taken = (await repositories.list(owner)).some((record) => record.doc.name === parsed.data.name);
      if (taken) throw new InvalidInputError(`A git server named ${parsed.data.name} exists already`);
      const now = clock.now();
      const record = await createRecurring(repositories, owner, now, () => null, {
        name: parsed.data.name,
        url: parsed.data.url,
        defaultBranch: parsed.data.defaultBranch ?? '',
        createdAt: now,
      });
      return gitServerRow(record);
    },
  };

  const projectRow = async (viewer: Viewer, id: unknown) => {
    if (typeof id !== 'string') return null;
    const project = await projects.get(viewer, id).catch(() => null);
    return project ? { id: project.id, name: project.title } : null;
  };

  const wrapAll = <T extends Record<string, (...args: any[]) => Promise<unknown>>>(resolvers: T): T =>
    Object.fromEntries(Object.entries(resolvers).map(([name, fn]) => [name, wrap(fn)])) as T;

  return {
    DateTime,
    JSON: passThrough('JSON'),
    IntOrImmediate,
    Query: wrapAll(Query),
    Mutation: wrapAll(Mutation),
    HyperHubSession: {
      billingProject: (row: Row, _: unknown, ctx: ShakudoContext) => projectRow(ctx.viewer, row.billingProjectId),
    },
    PipelineJob: wrapAll({
      billingProject: async (row: Row, _: unknown, ctx: ShakudoContext) => projectRow(ctx.viewer, row.billingProjectId),
      parameters: async (row: Row, args: ListArguments) => findMany(row.parameters as Row[], args),
      childJobs: async (row: Row, args: ListArguments, ctx: ShakudoContext) =>
        findMany(
          (await pipelineRows(ctx)).filter((child) => child.parentJobId === row.id),
          args,
        ),
      parentJob: async (row: Row, _: unknown, ctx: ShakudoContext) => (row.parentJobId ? reloadRow(ctx, row.parentJobId as string) : null),
      hyperplaneVCServer: async (row: Row, _: unknown, ctx: ShakudoContext) =>
        row.hyperplaneVCServerId
          ? gitServer(ctx.viewer, row.hyperplaneVCServerId as string)
              .then(gitServerRow)
              .catch(() => null)
          : null,
    }),
    Parameter: {
      PipelineJob: (row: Row, _: unknown, ctx: ShakudoContext) => reloadRow(ctx, row.pipelineJobId as string),
    },
    HyperplaneVCServer: {
      pipelineJobs: async (row: Row, args: ListArguments, ctx: ShakudoContext) =>
        findMany(
          (await pipelineRows(ctx)).filter((job) => job.hyperplaneVCServerId === row.id),
          args,
        ),
    },
    HyperplaneUser: {
      hyperHubSessions: async (row: Row, args: ListArguments, ctx: ShakudoContext) =>
        findMany(
          (await sessionRows(ctx)).filter((session) => session.owner === row.id),
          args,
        ),
      pipelineJobs: async (row: Row, args: ListArguments, ctx: ShakudoContext) =>
        findMany(
          (await pipelineRows(ctx)).filter((job) => job.owner === row.id),
          args,
        ),
    },
  };
}
