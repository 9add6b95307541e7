/** Resolvers of gateway/schema/schedules.graphql and services.graphql: each maps its arguments onto gateway/schedules/ and gateway/services/. */
import type { ErrorBody } from '../../shared/errors.js';
import type { ScheduleRecord } from '../schedules/schedules.js';
import type { ServiceRecord } from '../services/services.js';
import type { GatewayContext } from './resolvers.js';
import type { Resolvers } from './schema-types.js';
import { iso, jobView } from './views.js';

const errorView = (error: ErrorBody | null) => (error ? { code: error.code, message: error.message } : null);

/** A job the caller may see, else null (it may have been made in a project the caller has left since). */
async function visibleJob(ctx: GatewayContext, id: string | null) {
  if (id === null) return null;
  const job = await ctx.orchestrator.getJob(ctx.viewer, id).catch(() => null);
  return job && jobView(job, ctx.registry, ctx.utilization);
}

function scheduleView({ id, owner, doc }: ScheduleRecord) {
  return {
    id,
    owner,
    name: doc.name,
    cron: doc.cron,
    timeZone: doc.timeZone,
    missedFirings: doc.missedFirings,
    catchUpWindowSeconds: Math.round(doc.catchUpWindowMs / 1000),
    paused: doc.paused,
    nextFireTime: doc.paused ? null : iso(doc.nextFireAt),
    createdAt: iso(doc.createdAt),
    specification: doc.input,
    firings: doc.firings.map((f) => ({
      fireTime: iso(f.fireAt),
      firedAt: iso(f.firedAt),
      catchUp: f.catchUp,
      jobId: f.jobId,
      job: null,
      error: errorView(f.error),
    })),
    droppedFirings: doc.droppedFirings,
  };
}

function serviceView({ id, owner, doc }: ServiceRecord) {
  const { backoff } = doc;
  return {
    id,
    owner,
    name: doc.name,
    state: doc.state,
    stoppedReason: doc.stoppedReason,
    backoff: {
      initialDelaySeconds: backoff.initialMs / 1000,
      maxDelaySeconds: backoff.maxMs / 1000,
      factor: backoff.factor,
      resetAfterSeconds: backoff.resetAfterMs / 1000,
    },
    currentJobId: doc.currentJobId,
    currentJob: null,
    restarts: doc.restarts,
    nextStartTime: doc.state === 'RUNNING' ? iso(doc.nextStartAt) : null,
    createdAt: iso(doc.createdAt),
    specification: doc.input,
    runs: doc.runs.map((run) => ({
      jobId: run.jobId,
      job: null,
      createdAt: iso(run.createdAt),
      delaySeconds: run.delayMs / 1000,
      endedAt: iso(run.endedAt),
      state: run.state,
      exitCode: run.exitCode,
      error: errorView(run.error),
    })),
  };
}

export function recurringQueries(): Pick<NonNullable<Resolvers['Query']>, 'schedule' | 'schedules' | 'service' | 'services'> {
  return {
    schedule: async (_, args, ctx) => scheduleView(await ctx.schedules.get(ctx.viewer, args.id)),
    schedules: async (_, args, ctx) => (await ctx.schedules.list(ctx.viewer, args.project)).map(scheduleView),
    service: async (_, args, ctx) => serviceView(await ctx.services.get(ctx.viewer, args.id)),
    services: async (_, args, ctx) => (await ctx.services.list(ctx.viewer, args.project)).map(serviceView),
  };
}

export function recurringMutations(): Pick<
  NonNullable<Resolvers['Mutation']>,
  'createSchedule' | 'pauseSchedule' | 'resumeSchedule' | 'deleteSchedule' | 'createService' | 'stopService'
> {
  return {
    createSchedule: async (_, args, ctx) => scheduleView(await ctx.schedules.create(ctx.viewer, args.schedule)),
    pauseSchedule: async (_, args, ctx) => scheduleView(await ctx.schedules.pause(ctx.viewer, args.id)),
    resumeSchedule: async (_, args, ctx) => scheduleView(await ctx.schedules.resume(ctx.viewer, args.id)),
    async deleteSchedule(_, args, ctx) {
      await ctx.schedules.delete(ctx.viewer, args.id);
      return true;
    },
    createService: async (_, args, ctx) => serviceView(await ctx.services.create(ctx.viewer, args.service)),
    stopService: async (_, args, ctx) => serviceView(await ctx.services.stopService(ctx.viewer, args.id)),
  };
}

/** The jobs a schedule's firings and a service's runs name, as the caller may see them. */
export function recurringTypes(): Pick<Resolvers, 'ScheduleFiring' | 'ServiceRun' | 'Service'> {
  return {
    ScheduleFiring: { job: (firing, _, ctx) => visibleJob(ctx, firing.jobId ?? null) },
    ServiceRun: { job: (run, _, ctx) => visibleJob(ctx, run.jobId ?? null) },
    Service: { currentJob: (service, _, ctx) => visibleJob(ctx, (service as { currentJobId?: string | null }).currentJobId ?? null) },
  };
}
