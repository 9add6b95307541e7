/**
 * The production Store: Redis, shared by every gateway replica. Each change of
 * more than one key is one Lua script in ./lua (BullMQ style), so a gateway
 * killed at any moment leaves the job and its indexes in step.
 *
 * Key layout (`<p>` is `keyPrefix`; user-supplied parts are URI-encoded so
 * they never contain ':'):
 *
 * | key                                         | type   | holds                                   |
 * | ------------------------------------------- | ------ | --------------------------------------- |
 * | `<p>:job:<id>`                              | hash   | the job (see {@link toHash})            |
 * | `<p>:job:<id>:events`                       | set    | event ids (job and log events) applied  |
 * | `<p>:job:<id>:logs`                         | list   | `<timestamp> <JobLog JSON>`, bounded    |
 * | `<p>:jobs`                                  | zset   | every job id                            |
 * | `<p>:jobs:creator:<user>`                   | zset   | ids by creator                          |
 * | `<p>:jobs:creator:<user>:state:<state>`     | zset   | ids by creator and state                |
 * | `<p>:jobs:state:<state>`                    | zset   | ids by state                            |
 * | `<p>:jobs:provider:<provider>`              | zset   | ids by provider                         |
 * | `<p>:jobs:provider:<provider>:state:<state>`| zset   | ids by provider and state               |
 * | `<p>:jobs:provider:<provider>:active`       | zset   | ids not yet final, for reconciliation   |
 * | `<p>:jobs:dedupe:<user>:<specHash>`         | zset   | active ids of one creator and spec      |
 * | `<p>:jobs:creator:<user>:personal`          | zset   | ids a user created outside any project  |
 * | `<p>:jobs:creator:<user>:name:<name>`       | zset   | ids of a creator's jobs of one name     |
 * | `<p>:jobs:project:<project>`                | zset   | ids of a project's jobs                 |
 * | `<p>:jobs:project:<project>:creator:<user>` | zset   | ids of a project's jobs by creator      |
 * | `<p>:jobs:project:<project>:shared:<entity>`| zset   | ids the ACL gives an entity a right to  |
 * | `<p>:jobs:scratch:union`                    | zset   | written and deleted inside one script   |
 * | `<p>:jobs:counts`                           | hash   | `<provider>:<state>` → number of jobs   |
 * | `<p>:jobs:waiting`                          | hash   | job id → WaitingRecord JSON             |
 * | `<p>:jobs:charging:due`                     | zset   | charged jobs by when they next owe      |
 * | `<p>:user:<username>`                       | string | UserRecord JSON                         |
 * | `<p>:token:<tokenHash>`                     | string | TokenRecord JSON, expiring              |
 * | `<p>:users`                                 | set    | every user name                         |
 * | `<p>:user:<username>:tokens`                | zset   | token hashes by expiry (caller's clock) |
 * | `<p>:keypair:<accessKey>`                   | string | KeypairRecord JSON (Backend.AI dialect) |
 * | `<p>:user:<username>:keypairs`              | zset   | access keys by creation time            |
 * | `<p>:project:<id>`                          | hash   | doc (ProjectRecord JSON), version       |
 * | `<p>:projects`                              | set    | every project id                        |
 * | `<p>:user:<username>:projects`              | hash   | project id → MembershipRecord JSON      |
 * | `<p>:user:<username>:invites`               | hash   | project id → InvitationRecord JSON      |
 * | `<p>:quotas:<workspace>`                    | hash   | quota key → QuotaRecord JSON            |
 * | `<p>:usage:<workspace>`                     | hash   | usage counter → amount; `~fs`, `~fsAt`  |
 * | `<p>:usage:<workspace>:leases`              | hash   | job id → UsageLease JSON                |
 * | `<p>:vclusters`                             | hash   | `<provider>\t<project>` → its JSON      |
 * | `<p>:reclaims`                              | hash   | provider → its reclaim ledger (JSON)    |
 * | `<p>:migrations`                            | set    | the backfills done (see backfill)       |
 * | `<p>:schedule:<id>`, `<p>:service:<id>`     | hash   | recurring records (redis-recurring.ts)  |
 *
 * The job sources (`personal`, `project…`) are job-sources.ts's: a listing reads
 * those the viewer may see (gateway/access/job-access.ts) instead of checking jobs.
 *
 * Every zset has score 0: job ids are uuid v7, so lex order is creation order,
 * and a time range is a lex range on the ids' first 48 bits.
 */
import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';

import type { AclEntry, Job, JobLog, JobState, ProductRef } from '../../shared/domain.js';
import { InvalidInputError, must } from '../../shared/errors.js';
import { FINAL_STATES, isFinalState, JOB_STATES, statesLeadingTo } from '../../shared/job-state-machine.js';
import { distinctSources, inSources, sharedSources, soleCreator, sourcesOfJob, sourcesOverlap, type JobSource } from './job-sources.js';
import { defineLuaCommands } from './lua-scripts.js';
import { indexChanges } from './project-indexes.js';
import { componentKeyPrefix, connectRedis, scanKeys, type RedisClient, type RedisTarget } from './redis-connection.js';
import { createRedisRecurring, defineRecurringCommands } from './redis-recurring.js';
import {
  chargeableOf,
  CHARGED_STATES,
  isChargedState,
  type ChangeOutcome,
  type ChargeableJob,
  type ChargeRecord,
  type CreateOutcome,
  type InvitationRecord,
  type JobChange,
  type JobMove,
  type JobPage,
  type JobQuery,
  type KeypairRecord,
  type MembershipRecord,
  type NewJob,
  type ProjectRecord,
  type QuotaRecord,
  type ReclaimLedger,
  type Store,
  type TokenRecord,
  type UsageLease,
  type UserRecord,
  type VirtualClusterRecord,
  type WaitingRecord,
  type WaitingSwap,
} from './store.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** lua/create-jobs-n.lua: the number of keys comes first. */
    switchyardCreateJobs(numberOfKeys: number, ...keysAndArgs: string[]): Result<string[], Context>;
    /** lua/discard-job-n.lua: the number of keys comes first. */
    switchyardDiscardJob(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<0 | 1 | 2, Context>;
    /** lua/change-job-27.lua */
    switchyardChangeJob(...keysAndArgs: (string | number)[]): Result<[string, string?, string[]?], Context>;
    /** lua/reassign-job-8.lua */
    switchyardReassignJob(...keysAndArgs: (string | number)[]): Result<[string, string?, string[]?], Context>;
    /** lua/append-logs-2.lua */
    switchyardAppendLogs(...keysAndArgs: (string | number)[]): Result<number, Context>;
    /** lua/swap-waiting-1.lua */
    switchyardSwapWaiting(...keysAndArgs: string[]): Result<(0 | 1)[], Context>;
    /** lua/swap-reclaims-1.lua */
    switchyardSwapReclaims(...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/put-project-n.lua: the number of keys comes first. */
    switchyardPutProject(numberOfKeys: number, ...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/create-user-2.lua */
    switchyardCreateUser(...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/put-token-2.lua */
    switchyardPutToken(...keysAndArgs: string[]): Result<1, Context>;
    /** lua/delete-token-2.lua */
    switchyardDeleteToken(...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/put-keypair-2.lua */
    switchyardPutKeypair(...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/delete-keypair-2.lua */
    switchyardDeleteKeypair(...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/acquire-usage-2.lua */
    switchyardAcquireUsage(...keysAndArgs: (string | number)[]): Result<[0 | 1, number?, string?], Context>;
    /** lua/release-usage-2.lua */
    switchyardReleaseUsage(...keysAndArgs: (string | number)[]): Result<0 | 1, Context>;
    /** lua/set-job-acl-n.lua: the number of keys comes first. */
    switchyardSetJobAcl(numberOfKeys: number, ...keysAndArgs: string[]): Result<['missing' | 'changed'] | ['set', string[]], Context>;
    /** lua/list-page-n.lua: the number of keys comes first. */
    switchyardListPage(numberOfKeys: number, ...keysAndArgs: string[]): Result<[number, ...string[]], Context>;
    /** lua/read-logs-1.lua */
    switchyardReadLogs(...keysAndArgs: (string | number)[]): Result<string[], Context>;
    /** lua/charge-records-n.lua: the number of keys comes first. */
    switchyardChargeRecords(numberOfKeys: number, ...keysAndArgs: string[]): Result<string[], Context>;
    /** lua/schedule-charges-n.lua: the number of keys comes first. */
    switchyardScheduleCharges(numberOfKeys: number, ...keysAndArgs: string[]): Result<number, Context>;
    /** lua/repair-charges-2.lua */
    switchyardRepairCharges(...keysAndArgs: (string | number)[]): Result<[number, string], Context>;
  }
}

export type RedisStoreOptions = RedisTarget & {
  /**
   * Prepended, with ':', to every key, so several deployments or tests share one Redis.
   * On a cluster it is a hash tag (`{<keyPrefix>}`): every key in one slot (redis-connection.ts).
   */
  keyPrefix: string;
  /**
   * Log lines kept per job; the oldest fall off.
   * @default 10000
   */
  maxLogLinesPerJob?: number;
  /** Replicas every script's writes reach before it answers (lua-scripts.ts). @default 0 */
  waitReplicas?: number;
};

/** Ids scanned per round trip when a query needs a filter the indexes do not cover. */
const SCAN_CHUNK = 500;
/**
 * Creators, providers and spec hashes of jobs recently seen, which changeJob
 * needs for its keys. Creator and spec hash never change; the provider changes
 * only by reassignJob, which updates the entry.
 */
const ROUTE_CACHE_SIZE = 50_000;
/** Jobs per run of create-jobs-n.lua. */
const CREATE_CHUNK = 100;

/** Connects, loads the scripts and answers once Redis does. */
export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const maxLogLines = options.maxLogLinesPerJob ?? 10_000;
  if (!Number.isInteger(maxLogLines) || maxLogLines < 1) {
    throw new InvalidInputError(`maxLogLinesPerJob must be a positive integer, not ${maxLogLines}`);
  }
  const redis = connectRedis(options, {
    enableAutoPipelining: true,
    // A Redis restart is waited out, not turned into errors: commands queue while it is away and
    // run once it is back (readiness says it is away meanwhile), whose scripts tolerate a repeat.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
  });
  defineLuaCommands(
    redis,
    new URL('./lua/', import.meta.url),
    {
      switchyardCreateJobs: 'create-jobs-n.lua',
      switchyardDiscardJob: 'discard-job-n.lua',
      switchyardChangeJob: 'change-job-27.lua',
      switchyardReassignJob: 'reassign-job-8.lua',
      switchyardAppendLogs: 'append-logs-2.lua',
      switchyardSwapWaiting: 'swap-waiting-1.lua',
      switchyardSwapReclaims: 'swap-reclaims-1.lua',
      switchyardReadLogs: 'read-logs-1.lua',
      switchyardPutProject: 'put-project-n.lua',
      switchyardSetJobAcl: 'set-job-acl-n.lua',
      switchyardListPage: 'list-page-n.lua',
      switchyardCreateUser: 'create-user-2.lua',
      switchyardPutToken: 'put-token-2.lua',
      switchyardDeleteToken: 'delete-token-2.lua',
      switchyardPutKeypair: 'put-keypair-2.lua',
      switchyardDeleteKeypair: 'delete-keypair-2.lua',
      switchyardAcquireUsage: 'acquire-usage-2.lua',
      switchyardReleaseUsage: 'release-usage-2.lua',
      switchyardChargeRecords: 'charge-records-n.lua',
      switchyardScheduleCharges: 'schedule-charges-n.lua',
      switchyardRepairCharges: 'repair-charges-2.lua',
    },
    { waitReplicas: options.waitReplicas },
  );
  defineRecurringCommands(redis);
  const key = keyLayout(componentKeyPrefix(redis, options.keyPrefix));
  try {
    await redis.ping();
    await backfill(redis, key);
  } catch (error) {
    redis.disconnect();
    throw error;
  }

  const routes = new Map<string, Route>();

  function remember(job: Pick<Job, 'id' | 'owner' | 'providerId' | 'specHash'>): Route {
    const route = { createdBy: job.owner.createdBy, providerId: job.providerId, specHash: job.specHash };
    if (routes.size >= ROUTE_CACHE_SIZE) routes.delete(routes.keys().next().value!);
    routes.set(job.id, route);
    return route;
  }

  async function routeOf(id: string): Promise<Route | null> {
    const [doc, providerId] = await redis.hmget(key.job(id), 'doc', 'providerId');
    if (doc === null) return null;
    const { owner, specHash, providerId: storedBefore } = JSON.parse(must(doc, 'the reply to HMGET')) as Job;
    return remember({ id, owner, specHash, providerId: providerId ?? storedBefore });
  }

  /** What places a stored job in its sources: its owner and ACL, with the acl field as stored ('' when the ACL is in the doc). */
  async function readOwnership(id: string): Promise<Ownership | null> {
    const [doc, acl] = await redis.hmget(key.job(id), 'doc', 'acl');
    return ownership(doc, acl);
  }

  async function getJobs(ids: string[]): Promise<(Job | null)[]> {
    // Auto-pipelining sends these in one round trip; each HGETALL is atomic.
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(key.job(id))));
    return hashes.map((hash) => (hash.doc === undefined ? null : fromHash(hash)));
  }

  /** The next `count` ids of one index after `bound`, in query order. */
  function rangeOf(indexKey: string, range: LexRange, order: JobQuery['order'], count: number): Promise<string[]> {
    return order === 'ASC'
      ? redis.zrangebylex(indexKey, range.min, range.max, 'LIMIT', 0, count)
      : redis.zrevrangebylex(indexKey, range.max, range.min, 'LIMIT', 0, count);
  }

  /**
   * The ids of several indexes merged in query order, each id once (an id in
   * two of them comes out of both at once), read `chunk` at a time per index;
   * stops reading as soon as the caller stops asking.
   */
  async function* mergedIds(indexKeys: string[], range: LexRange, order: JobQuery['order'], chunk: number): AsyncGenerator<string> {
    const sources = indexKeys.map((indexKey) => ({ indexKey, range: { ...range }, buffer: [] as string[], at: 0, done: false }));
    const before = order === 'ASC' ? (a: string, b: string) => a < b : (a: string, b: string) => a > b;
    let previous: string | undefined;
    for (;;) {
      await Promise.all(
        sources
          .filter((source) => !source.done && source.at >= source.buffer.length)
          .map(async (source) => {
            source.buffer = await rangeOf(source.indexKey, source.range, order, chunk);
            source.at = 0;
            source.done = source.buffer.length < chunk;
            const last = source.buffer.at(-1);
            if (last !== undefined) source.range = narrow(source.range, order, last);
          }),
      );
      let best: (typeof sources)[number] | null = null;
      for (const source of sources) {
        if (source.at >= source.buffer.length) continue;
        if (best === null || before(source.buffer[source.at]!, best.buffer[best.at]!)) best = source;
      }
      if (best === null) return;
      const id = best.buffer[best.at++]!;
      if (id === previous) continue;
      previous = id;
      yield id;
    }
  }

  /** One run of change-job with the keys of `route`; 'moved' when the job is at another provider now. */
  async function changeAt(id: string, route: Route, change: JobChange): Promise<ChangeOutcome | { kind: 'moved'; providerId: string }> {
    const { createdBy, providerId } = route;
    const given = (value: string | number | undefined) => (value === undefined ? '' : `=${value}`);
    const update = (state: JobState | null) =>
      JSON.stringify({
        state,
        status: change.status ?? null,
        newTimeAllocation: change.newTimeAllocation ?? null,
        timestamp: change.timestamp,
      });
    const [kind, detail, hash] = await redis.switchyardChangeJob(
      key.job(id),
      key.events(id),
      key.duplicates(createdBy, route.specHash),
      key.active(providerId),
      key.counts,
      ...JOB_STATES.map((state) => key.creatorState(createdBy, state)),
      ...JOB_STATES.map((state) => key.state(state)),
      ...JOB_STATES.map((state) => key.providerState(providerId, state)),
      key.chargesDue,
      id,
      change.eventId ?? '',
      change.state ?? '',
      change.expectStates ? stateList(change.expectStates) : '',
      change.state ? stateList(statesLeadingTo(change.state)) : ',',
      stateList([...FINAL_STATES]),
      stateList(JOB_STATES),
      given(change.exitCode),
      given(change.startedAt),
      given(change.expiresAt),
      given(change.providerGeneratedId),
      change.status !== undefined || change.newTimeAllocation !== undefined ? '1' : '0',
      update(change.state ?? null),
      update(null),
      countsField(providerId, ''),
      providerId,
      `${change.state}@${change.timestamp}`,
      stateList(CHARGED_STATES),
      String(change.timestamp),
    );
    if (kind === 'missing') return { kind };
    if (kind === 'moved') return { kind, providerId: detail! };
    const job = fromHash(pairsToRecord(hash!));
    if (kind === 'duplicate') return { kind, job };
    if (kind === 'refused') return { kind, job, reason: refusalReason(job.state, change, detail as 'expect' | 'table') };
    return { kind: 'applied', job, moved: detail === '1' };
  }

  /** One run of create-jobs-n.lua for up to {@link CREATE_CHUNK} jobs: each job's keys named once for the whole run. */
  async function createRun(entries: readonly NewJob[]): Promise<CreateOutcome[]> {
    const keys = [key.counts, key.waiting, key.all, key.chargesDue];
    const position = new Map(keys.map((k, i) => [k, String(i + 1)]));
    const at = (k: string) => {
      let p = position.get(k);
      if (p === undefined) position.set(k, (p = String(keys.push(k))));
      return p;
    };
    const args: string[] = [String(entries.length)];
    for (const { job, exclusive, waiting } of entries) {
      const { createdBy } = job.owner;
      const { providerId, state } = job;
      // The creator+name index rides with the sources: create and discard add and remove the id alike.
      const sources = [...sourcesOfJob(job).map((source) => sourceKey(key, source)), ...nameKeys(key, job)];
      const fields = toHash(job);
      args.push(
        job.id,
        exclusive ? '1' : '0',
        isFinalState(state) ? '1' : '0',
        countsField(providerId, state),
        waiting ? JSON.stringify(waiting) : '',
        isChargedState(state) ? String(job.createdAt) : '',
        at(key.job(job.id)),
        at(key.duplicates(createdBy, job.specHash)),
        at(key.creator(createdBy)),
        at(key.creatorState(createdBy, state)),
        at(key.state(state)),
        at(key.provider(providerId)),
        at(key.providerState(providerId, state)),
        at(key.active(providerId)),
        String(sources.length),
        ...sources.map(at),
        String(fields.length),
        ...fields,
      );
    }
    const refusedBy = await redis.switchyardCreateJobs(keys.length, ...keys, ...args);
    return entries.map(({ job }, k) => {
      const duplicateOf = refusedBy[k];
      if (duplicateOf) return { created: false, duplicateOf };
      remember(job);
      return { created: true };
    });
  }

  /** Runs of at most CREATE_CHUNK jobs, sent together: one script does not hold Redis for a whole bulk call. */
  async function createJobs(entries: readonly NewJob[]): Promise<CreateOutcome[]> {
    const runs: Promise<CreateOutcome[]>[] = [];
    for (let i = 0; i < entries.length; i += CREATE_CHUNK) runs.push(createRun(entries.slice(i, i + CREATE_CHUNK)));
    return (await Promise.all(runs)).flat();
  }

  async function swapWaitings(swaps: readonly WaitingSwap[]): Promise<boolean[]> {
    if (swaps.length === 0) return [];
    const args = swaps.flatMap(({ jobId, expectClaim, next }) => [jobId, expectClaim, next === null ? '' : JSON.stringify(next), next?.claim ?? '']);
    return (await redis.switchyardSwapWaiting(key.waiting, ...args)).map((done) => done === 1);
  }

  /** One run of put-project-n.lua: `next` over `before` (null: a new project), with the users' entries that change. */
  async function putProject(before: ProjectRecord | null, next: ProjectRecord): Promise<boolean> {
    const changes = indexChanges(before, next);
    const keys = changes.map(({ index, username }) => (index === 'memberships' ? key.userProjects(username) : key.userInvites(username)));
    const values = changes.map(({ value }) => (value === null ? '' : JSON.stringify(value)));
    const { version, ...doc } = next;
    const stored = await redis.switchyardPutProject(
      2 + keys.length,
      key.project(next.id),
      key.projects,
      ...keys,
      next.id,
      before === null ? '' : String(before.version),
      String(version),
      JSON.stringify(doc),
      ...values,
    );
    return stored === 1;
  }

  async function readProject(id: string): Promise<ProjectRecord | null> {
    const [doc, version] = await redis.hmget(key.project(id), 'doc', 'version');
    return doc === null || doc === undefined ? null : { ...(JSON.parse(doc) as Omit<ProjectRecord, 'version'>), version: Number(version) };
  }

  const sortedValues = <T>(hash: Record<string, string>): T[] =>
    Object.keys(hash)
      .sort()
      .map((field) => JSON.parse(hash[field]!) as T);

  return {
    async createJob(job, { exclusive }): Promise<CreateOutcome> {
      const [outcome] = await createJobs([{ job, exclusive }]);
      return outcome!;
    },

    createJobs,

    async discardJob(id, providerId) {
      for (;;) {
        const owned = await readOwnership(id);
        if (!owned) return false;
        const { owner, specHash } = owned;
        const sourceKeys = [...sourcesOfJob(owned).map((source) => sourceKey(key, source)), ...nameKeys(key, owned)];
        const forgotten = await redis.switchyardDiscardJob(
          10 + sourceKeys.length,
          key.job(id),
          key.duplicates(owner.createdBy, specHash),
          key.all,
          key.creator(owner.createdBy),
          key.creatorState(owner.createdBy, 'IN_QUEUE'),
          key.state('IN_QUEUE'),
          key.provider(providerId),
          key.providerState(providerId, 'IN_QUEUE'),
          key.active(providerId),
          key.counts,
          ...sourceKeys,
          id,
          providerId,
          countsField(providerId, 'IN_QUEUE'),
          owned.aclField,
        );
        // 2: its ACL changed since it was read, and with it the sources to leave.
        if (forgotten === 2) continue;
        if (forgotten === 1) routes.delete(id);
        return forgotten === 1;
      }
    },

    async getJob(id) {
      const [job] = await getJobs([id]);
      return job ?? null;
    },

    getJobs,

    async changeJob(id, change): Promise<ChangeOutcome> {
      // A known route sends the script in this tick, so it runs before a reassignJob called after this.
      let route = routes.get(id) ?? (await routeOf(id));
      if (route === null) return { kind: 'missing' };
      for (;;) {
        if (change.expectProvider !== undefined && route.providerId !== change.expectProvider) {
          // The route the script would check: the job is elsewhere (the script confirms it is current).
          const [job] = await getJobs([id]);
          if (!job) return { kind: 'missing' };
          if (job.providerId === change.expectProvider) {
            route = { ...route, providerId: job.providerId };
            routes.set(id, route);
            continue;
          }
          return { kind: 'refused', job, reason: `job is at ${job.providerId}, not ${change.expectProvider}` };
        }
        const outcome = await changeAt(id, route, change);
        if (outcome.kind !== 'moved') return outcome;
        // Reassigned since this replica learnt its route: the script changed nothing.
        route = { ...route, providerId: outcome.providerId };
        routes.set(id, route);
      }
    },

    async reassignJob(id, move): Promise<ChangeOutcome> {
      const { from, to } = move;
      const product = { id: to.product.id, category: to.product.category, provider: to.providerId };
      // Forget the route before the script is sent: a changeJob called meanwhile reads it
      // again, on this connection, so after the move.
      routes.delete(id);
      const [kind, detail, hash] = await redis.switchyardReassignJob(
        key.job(id),
        key.provider(from),
        key.providerState(from, 'IN_QUEUE'),
        key.active(from),
        key.provider(to.providerId),
        key.providerState(to.providerId, 'IN_QUEUE'),
        key.active(to.providerId),
        key.counts,
        id,
        from,
        'IN_QUEUE',
        to.providerId,
        JSON.stringify(product),
        JSON.stringify({ state: null, status: move.status, newTimeAllocation: null, timestamp: move.timestamp }),
        countsField(from, 'IN_QUEUE'),
        countsField(to.providerId, 'IN_QUEUE'),
      );
      if (kind === 'missing') return { kind };
      const job = fromHash(pairsToRecord(hash!));
      remember(job);
      if (kind === 'refused') return { kind, job, reason: moveRefusalReason(job, move, detail as 'state' | 'provider') };
      return { kind: 'applied', job, moved: false };
    },

    async listJobs(query): Promise<JobPage> {
      const plan = planQuery(key, query);
      const range = timeRange(query);
      const cursor = query.after === undefined ? undefined : decodeCursor(query.after);
      const first = Math.max(0, Math.floor(query.first));

      if (plan.residual === null) {
        // The indexes answer exactly: one round trip for the page's ids and the total, one for the jobs.
        const start = cursor === undefined ? range : after(range, query.order, cursor);
        const [totalCount, ...pageIds] = await redis.switchyardListPage(
          1 + plan.indexKeys.length,
          key.scratchUnion,
          ...plan.indexKeys,
          range.min,
          range.max,
          start.min,
          start.max,
          query.order,
          String(first + 1),
          plan.overlapping ? '1' : '0',
        );
        const jobs = (await getJobs(pageIds.slice(0, first))).filter((job): job is Job => job !== null);
        return {
          jobs,
          endCursor: jobs.length > 0 ? encodeCursor(jobs.at(-1)!.id) : null,
          hasNextPage: pageIds.length > first,
          totalCount,
        };
      }

      // A filter the indexes do not cover: scan every candidate, to count them all.
      const residual = plan.residual;
      const isAfterCursor = cursor === undefined ? () => true : query.order === 'ASC' ? (id: string) => id > cursor : (id: string) => id < cursor;
      const jobs: Job[] = [];
      let totalCount = 0;
      let hasNextPage = false;
      let batch: string[] = [];
      const take = async () => {
        for (const job of await getJobs(batch)) {
          if (job === null || !residual(job)) continue;
          totalCount += 1;
          if (!isAfterCursor(job.id)) continue;
          if (jobs.length < first) jobs.push(job);
          else hasNextPage = true;
        }
        batch = [];
      };
      for await (const id of mergedIds(plan.indexKeys, range, query.order, SCAN_CHUNK)) {
        batch.push(id);
        if (batch.length >= SCAN_CHUNK) await take();
      }
      await take();
      return {
        jobs,
        endCursor: jobs.length > 0 ? encodeCursor(jobs.at(-1)!.id) : null,
        hasNextPage,
        totalCount,
      };
    },

    async activeJobIds(providerId) {
      return redis.zrangebylex(key.active(providerId), '-', '+');
    },

    async countJobs() {
      const fields = await redis.hgetall(key.counts);
      return Object.entries(fields)
        .map(([field, count]) => {
          const split = field.lastIndexOf(':');
          return {
            providerId: decodeURIComponent(field.slice(0, split)),
            state: field.slice(split + 1) as JobState,
            count: Number(count),
          };
        })
        .sort(byProviderAndState);
    },

    async dueCharges(at) {
      return redis.zrangebyscore(key.chargesDue, '-inf', at);
    },

    async chargeRecords(ids) {
      if (ids.length === 0) return [];
      const reply = await redis.switchyardChargeRecords(1 + ids.length, key.chargesDue, ...ids.map(key.job), stateList(CHARGED_STATES), ...ids);
      return chargeRecordsOf(ids, reply);
    },

    async scheduleCharges(schedules) {
      if (schedules.length === 0) return;
      await redis.switchyardScheduleCharges(
        1 + schedules.length,
        key.chargesDue,
        ...schedules.map(({ id }) => key.job(id)),
        stateList(CHARGED_STATES),
        ...schedules.flatMap(({ id, version, dueAt }) => [id, version, dueAt === null ? '+inf' : String(dueAt)]),
      );
    },

    async repairCharges() {
      let added = 0;
      for (const state of CHARGED_STATES) {
        let min = '-';
        for (;;) {
          const [n, last] = await redis.switchyardRepairCharges(key.chargesDue, key.state(state), min, BACKFILL_CHUNK);
          added += n;
          if (last === '') break;
          min = `(${last}`;
        }
      }
      return added;
    },

    async appendLogs(jobId, lines: JobLog[], eventId) {
      if (lines.length === 0) return;
      await redis.switchyardAppendLogs(
        key.logs(jobId),
        key.events(jobId),
        maxLogLines,
        eventId ?? '',
        ...lines.map((line) => `${line.timestamp} ${JSON.stringify(line)}`),
      );
    },

    async hasEvent(jobId, eventId) {
      return (await redis.sismember(key.events(jobId), eventId)) === 1;
    },

    async readLogs(jobId, { since, limit }) {
      const lines = await redis.switchyardReadLogs(
        key.logs(jobId),
        since === undefined ? '' : String(since),
        limit === undefined ? '' : String(Math.max(0, Math.floor(limit))),
      );
      return lines.map((line) => JSON.parse(line.slice(line.indexOf(' ') + 1)) as JobLog);
    },

    async createUser(user: UserRecord) {
      return (await redis.switchyardCreateUser(key.user(user.username), key.users, user.username, JSON.stringify(user))) === 1;
    },

    async updateUser(user) {
      return (await redis.set(key.user(user.username), JSON.stringify(user), 'XX')) === 'OK';
    },

    async listUsers() {
      const names = (await redis.smembers(key.users)).sort();
      const values = names.length === 0 ? [] : await redis.mget(...names.map((name) => key.user(name)));
      return values.filter((value): value is string => value !== null).map((value) => JSON.parse(value) as UserRecord);
    },

    async getUser(username) {
      const value = await redis.get(key.user(username));
      return value === null ? null : (JSON.parse(value) as UserRecord);
    },

    async putToken(tokenHash, token: TokenRecord, now) {
      // Redis forgets the token after its remaining life on the caller's clock; getToken still
      // checks that clock, so a driven clock and Redis's own never disagree about a live token.
      const ttl = Math.max(1, Math.ceil(token.expiresAt - now));
      await redis.switchyardPutToken(
        key.token(tokenHash),
        key.userTokens(token.username),
        tokenHash,
        JSON.stringify(token),
        String(ttl),
        String(token.expiresAt),
      );
    },

    async listTokens(username, now) {
      const hashes = await redis.zrange(key.userTokens(username), '0', '-1');
      const values = hashes.length === 0 ? [] : await redis.mget(...hashes.map((hash) => key.token(hash)));
      const gone = hashes.filter((_, i) => values[i] === null);
      // Tokens Redis has forgotten leave their entries here: drop them (by Redis's own expiry, whatever the caller's clock).
      if (gone.length > 0) await redis.zrem(key.userTokens(username), ...gone);
      return hashes.flatMap((tokenHash, i) => {
        const value = values[i];
        if (value === null || value === undefined) return [];
        const token = JSON.parse(value) as TokenRecord;
        return token.expiresAt > now ? [{ ...token, tokenHash }] : [];
      });
    },

    async deleteToken(tokenHash) {
      const value = await redis.get(key.token(tokenHash));
      if (value === null) return false;
      const { username } = JSON.parse(value) as TokenRecord;
      return (await redis.switchyardDeleteToken(key.token(tokenHash), key.userTokens(username), tokenHash)) === 1;
    },

    async getToken(tokenHash, now) {
      const value = await redis.get(key.token(tokenHash));
      if (value === null) return null;
      const token = JSON.parse(value) as TokenRecord;
      return token.expiresAt > now ? token : null;
    },

    async putKeypair(keypair: KeypairRecord) {
      return (
        (await redis.switchyardPutKeypair(
          key.keypair(keypair.accessKey),
          key.userKeypairs(keypair.username),
          keypair.accessKey,
          JSON.stringify(keypair),
          String(keypair.createdAt),
        )) === 1
      );
    },

    async getKeypair(accessKey) {
      const value = await redis.get(key.keypair(accessKey));
      return value === null ? null : (JSON.parse(value) as KeypairRecord);
    },

    async listKeypairs(username) {
      const accessKeys = await redis.zrange(key.userKeypairs(username), '0', '-1');
      const values = accessKeys.length === 0 ? [] : await redis.mget(...accessKeys.map((accessKey) => key.keypair(accessKey)));
      return values.filter((value): value is string => value !== null).map((value) => JSON.parse(value) as KeypairRecord);
    },

    async deleteKeypair(accessKey) {
      const value = await redis.get(key.keypair(accessKey));
      if (value === null) return false;
      const { username } = JSON.parse(value) as KeypairRecord;
      return (await redis.switchyardDeleteKeypair(key.keypair(accessKey), key.userKeypairs(username), accessKey)) === 1;
    },

    async setJobAcl(id, acl: AclEntry[]) {
      for (;;) {
        const owned = await readOwnership(id);
        if (!owned) return null;
        const { project } = owned.owner;
        const before = new Set(sharedSources(project, owned.acl).map((source) => sourceKey(key, source)));
        const after = new Set(sharedSources(project, acl).map((source) => sourceKey(key, source)));
        const leave = [...before].filter((sourceKey) => !after.has(sourceKey));
        const join = [...after].filter((sourceKey) => !before.has(sourceKey));
        const [outcome, hash] = await redis.switchyardSetJobAcl(
          1 + leave.length + join.length,
          key.job(id),
          ...leave,
          ...join,
          JSON.stringify(acl),
          owned.aclField,
          id,
          String(leave.length),
        );
        if (outcome === 'missing') return null;
        // Another change of the ACL came between the read and the script: the sources to move differ.
        if (outcome === 'changed') continue;
        return fromHash(pairsToRecord(hash!));
      }
    },

    async createProject(project) {
      return putProject(null, project);
    },

    getProject: readProject,

    async updateProject(next, expectVersion) {
      const current = await readProject(next.id);
      // The script compares the version again: a change between this read and it is refused.
      if (!current || current.version !== expectVersion) return false;
      return putProject(current, next);
    },

    async listProjects() {
      return (await redis.smembers(key.projects)).sort();
    },

    async membershipsOf(username) {
      return sortedValues<MembershipRecord>(await redis.hgetall(key.userProjects(username)));
    },

    async invitationsOf(username) {
      return sortedValues<InvitationRecord>(await redis.hgetall(key.userInvites(username)));
    },

    async putWaiting(record) {
      await redis.hset(key.waiting, record.jobId, JSON.stringify(record));
    },

    async takeWaiting(jobId) {
      // HDEL answers 1 to exactly one of several gateways claiming the same job.
      return (await redis.hdel(key.waiting, jobId)) === 1;
    },

    async getWaiting(jobId) {
      const value = await redis.hget(key.waiting, jobId);
      return value === null ? null : (JSON.parse(value) as WaitingRecord);
    },

    async swapWaiting(jobId, expectClaim, next) {
      const [done] = await swapWaitings([{ jobId, expectClaim, next }]);
      return done!;
    },

    swapWaitings,

    async listWaiting() {
      const all = await redis.hgetall(key.waiting);
      return Object.keys(all)
        .sort()
        .map((jobId) => JSON.parse(all[jobId]!) as WaitingRecord);
    },

    async putQuota(workspace, quotaKey, quota) {
      await redis.hset(key.quotas(workspace), quotaKey, JSON.stringify(quota));
    },

    async deleteQuota(workspace, quotaKey) {
      return (await redis.hdel(key.quotas(workspace), quotaKey)) === 1;
    },

    async listQuotas(workspace) {
      return sortedValues<QuotaRecord>(await redis.hgetall(key.quotas(workspace)));
    },

    async putVirtualCluster(cluster) {
      await redis.hset(key.virtualClusters, `${cluster.provider}\t${cluster.project}`, JSON.stringify(cluster));
    },

    async deleteVirtualCluster(provider, project) {
      return (await redis.hdel(key.virtualClusters, `${provider}\t${project}`)) === 1;
    },

    async listVirtualClusters() {
      return sortedValues<VirtualClusterRecord>(await redis.hgetall(key.virtualClusters));
    },

    async readReclaims(providerId) {
      const value = await redis.hget(key.reclaims, providerId);
      return value === null ? { version: null, claims: [] } : (JSON.parse(value) as ReclaimLedger);
    },

    async swapReclaims(providerId, expectVersion, claims) {
      const version = randomUUID();
      const next = claims.length === 0 ? '' : JSON.stringify({ version, claims } satisfies ReclaimLedger);
      return (await redis.switchyardSwapReclaims(key.reclaims, providerId, expectVersion ?? '', next, claims.length === 0 ? '' : version)) === 1;
    },

    async acquireUsage(workspace, lease, checks, halfLifeMs) {
      const { amounts } = lease;
      const [held, check, inUse] = await redis.switchyardAcquireUsage(
        key.usage(workspace),
        key.leases(workspace),
        lease.jobId,
        JSON.stringify(lease),
        lease.at,
        halfLifeMs,
        lease.cells.length,
        ...lease.cells,
        amounts.jobs,
        amounts.cpu,
        amounts.memoryInGigs,
        amounts.gpu,
        ...checks.flatMap((c) => [c.field, c.delta, c.limit]),
      );
      return held === 1 ? { acquired: true } : { acquired: false, check: Number(check) - 1, inUse: Number(inUse) };
    },

    async releaseUsage(workspace, jobId, now, halfLifeMs) {
      return (await redis.switchyardReleaseUsage(key.usage(workspace), key.leases(workspace), jobId, now, halfLifeMs)) === 1;
    },

    async readUsage(workspaces) {
      return Promise.all(
        workspaces.map(async (workspace) => {
          const [usage, leases] = await Promise.all([redis.hgetall(key.usage(workspace)), redis.hgetall(key.leases(workspace))]);
          const { '~fs': value, '~fsAt': at, ...counters } = usage;
          return {
            counters: Object.fromEntries(Object.entries(counters).map(([field, amount]) => [field, Number(amount)])),
            leases: Object.values(leases).map((lease) => JSON.parse(lease) as UsageLease),
            fairShare: value === undefined ? null : { value: Number(value), at: Number(at) },
          };
        }),
      );
    },

    schedules: createRedisRecurring(redis, componentKeyPrefix(redis, options.keyPrefix), 'schedule'),
    services: createRedisRecurring(redis, componentKeyPrefix(redis, options.keyPrefix), 'service'),
    repositories: createRedisRecurring(redis, componentKeyPrefix(redis, options.keyPrefix), 'repository'),

    async ping() {
      // Commands wait for a Redis that is away (see above): a ping answers within a second or fails.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer a ping within 1 s (${redis.status})`)), 1_000);
      });
      try {
        await Promise.race([redis.ping(), late]);
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      await redis.quit();
    },
  };
}

interface Route {
  createdBy: string;
  providerId: string;
  specHash: string;
}

type KeyLayout = ReturnType<typeof keyLayout>;

function keyLayout(prefix: string) {
  const e = encodeURIComponent;
  return {
    job: (id: string) => `${prefix}:job:${e(id)}`,
    events: (id: string) => `${prefix}:job:${e(id)}:events`,
    logs: (id: string) => `${prefix}:job:${e(id)}:logs`,
    all: `${prefix}:jobs`,
    creator: (user: string) => `${prefix}:jobs:creator:${e(user)}`,
    creatorState: (user: string, state: JobState) => `${prefix}:jobs:creator:${e(user)}:state:${state}`,
    state: (state: JobState) => `${prefix}:jobs:state:${state}`,
    provider: (provider: string) => `${prefix}:jobs:provider:${e(provider)}`,
    providerState: (provider: string, state: JobState) => `${prefix}:jobs:provider:${e(provider)}:state:${state}`,
    active: (provider: string) => `${prefix}:jobs:provider:${e(provider)}:active`,
    duplicates: (user: string, specHash: string) => `${prefix}:jobs:dedupe:${e(user)}:${e(specHash)}`,
    counts: `${prefix}:jobs:counts`,
    waiting: `${prefix}:jobs:waiting`,
    chargesDue: `${prefix}:jobs:charging:due`,
    user: (username: string) => `${prefix}:user:${e(username)}`,
    token: (tokenHash: string) => `${prefix}:token:${e(tokenHash)}`,
    keypair: (accessKey: string) => `${prefix}:keypair:${e(accessKey)}`,
    project: (id: string) => `${prefix}:project:${e(id)}`,
    projects: `${prefix}:projects`,
    projectJobs: (project: string) => `${prefix}:jobs:project:${e(project)}`,
    projectCreator: (project: string, user: string) => `${prefix}:jobs:project:${e(project)}:creator:${e(user)}`,
    shared: (project: string, entity: string) => `${prefix}:jobs:project:${e(project)}:shared:${e(entity)}`,
    scratchUnion: `${prefix}:jobs:scratch:union`,
    migrations: `${prefix}:migrations`,
    users: `${prefix}:users`,
    userPattern: `${globEscape(prefix)}:user:*`,
    personal: (user: string) => `${prefix}:jobs:creator:${e(user)}:personal`,
    creatorName: (user: string, name: string) => `${prefix}:jobs:creator:${e(user)}:name:${e(name)}`,
    userTokens: (username: string) => `${prefix}:user:${e(username)}:tokens`,
    userKeypairs: (username: string) => `${prefix}:user:${e(username)}:keypairs`,
    userProjects: (username: string) => `${prefix}:user:${e(username)}:projects`,
    userInvites: (username: string) => `${prefix}:user:${e(username)}:invites`,
    quotas: (workspace: string) => `${prefix}:quotas:${e(workspace)}`,
    usage: (workspace: string) => `${prefix}:usage:${e(workspace)}`,
    leases: (workspace: string) => `${prefix}:usage:${e(workspace)}:leases`,
    virtualClusters: `${prefix}:vclusters`,
    reclaims: `${prefix}:reclaims`,
  };
}

function countsField(providerId: string, state: JobState | ''): string {
  return `${encodeURIComponent(providerId)}:${state}`;
}

function stateList(states: readonly JobState[]): string {
  return `,${states.join(',')},`;
}

/**
 * A job as a hash: the fields a change touches one by one (state, times,
 * exitCode, providerGeneratedId, creditsCharged, updates and acl as JSON arrays,
 * providerId and the specification's product as JSON) and the rest as one JSON
 * document. Absent field = null. Numbers are written by JavaScript and never
 * parsed by Lua, so they round-trip exactly.
 */
function toHash(job: Job): string[] {
  const { state, startedAt, expiresAt, exitCode, providerId, providerGeneratedId, updates, creditsCharged, acl, ...doc } = job;
  const { product, ...specification } = job.specification;
  const fields = [
    'doc',
    JSON.stringify({ ...doc, specification }),
    'providerId',
    providerId,
    'product',
    JSON.stringify(product),
    'state',
    state,
    'updates',
    JSON.stringify(updates),
    'acl',
    JSON.stringify(acl),
  ];
  fields.push('charging', JSON.stringify([job.owner.createdBy, job.owner.project, job.specification.replicas]), 'usage', usageField(updates));
  fields.push('creditsCharged', String(creditsCharged));
  if (startedAt !== null) fields.push('startedAt', String(startedAt));
  if (expiresAt !== null) fields.push('expiresAt', String(expiresAt));
  if (exitCode !== null) fields.push('exitCode', String(exitCode));
  if (providerGeneratedId !== null) fields.push('providerGeneratedId', providerGeneratedId);
  return fields;
}

function fromHash(hash: Record<string, string>): Job {
  const number = (value: string | undefined) => (value === undefined ? null : Number(value));
  // A job stored before providerId and product had fields of their own keeps them in the doc.
  const doc = JSON.parse(must(hash.doc, 'field doc of a job')) as Omit<
    Job,
    'state' | 'startedAt' | 'expiresAt' | 'exitCode' | 'providerGeneratedId' | 'updates' | 'creditsCharged' | 'acl'
  > & { acl?: Job['acl'] };
  const { product: inDoc, ...specification } = doc.specification;
  const product = hash.product === undefined ? inDoc : (JSON.parse(hash.product) as ProductRef);
  return {
    ...doc,
    // Product first, where the specification schema has it.
    specification: { product, ...specification },
    providerId: hash.providerId ?? doc.providerId,
    state: hash.state as JobState,
    startedAt: number(hash.startedAt),
    expiresAt: number(hash.expiresAt),
    exitCode: number(hash.exitCode),
    providerGeneratedId: hash.providerGeneratedId ?? null,
    updates: JSON.parse(must(hash.updates, 'field updates of a job')) as Job['updates'],
    creditsCharged: Number(hash.creditsCharged ?? 0),
    // A job stored before the ACL had a field of its own keeps it in the doc.
    acl: hash.acl === undefined ? (doc.acl ?? []) : (JSON.parse(hash.acl) as Job['acl']),
  };
}

/**
 * A job's moves of state as its `usage` field keeps them for charging rounds: '<state>@<timestamp>',
 * ';' between them, in the order recorded (change-job appends each move).
 */
function usageField(updates: Job['updates']): string {
  let usage = '';
  for (const { state, timestamp } of updates) if (state !== null) usage += `${usage === '' ? '' : ';'}${state}@${timestamp}`;
  return usage;
}

function parseUsage(usage: string): ChargeableJob['updates'] {
  if (usage === '') return [];
  return usage.split(';').map((entry) => {
    const at = entry.indexOf('@');
    return { state: entry.slice(0, at) as JobState, timestamp: Number(entry.slice(at + 1)) };
  });
}

/** charge-records-n.lua's reply (its page and each legacy job's fields) as one record per job; null when it is not stored or not charged. */
function chargeRecordsOf(ids: readonly string[], [page = '', ...legacy]: readonly string[]): (ChargeRecord | null)[] {
  const records = page.split('\x1e');
  let next = 0;
  return ids.map((id, i) => {
    const record = records[i] ?? '';
    if (record === '') return null;
    const [state, providerId, product, startedAt, charging, usage] = record.split('\x1f') as [JobState, string, string, string, string, string];
    if (charging === '') {
      // Stored before the charging fields existed: read whole, its version compared on `updates`.
      const updates = must(legacy[next], 'field updates of a job');
      const hash: Record<string, string> = { state, updates, doc: must(legacy[next + 1], 'field doc of a job') };
      next += 2;
      if (providerId !== '') hash.providerId = providerId;
      if (product !== '') hash.product = product;
      if (startedAt !== '') hash.startedAt = startedAt;
      return { job: chargeableOf(fromHash(hash)), version: `u${Buffer.byteLength(updates)}` };
    }
    const [createdBy, project, replicas] = JSON.parse(charging) as [string, string | null, number];
    return {
      job: {
        id,
        owner: { createdBy, project },
        providerId,
        state,
        startedAt: startedAt === '' ? null : Number(startedAt),
        specification: { product: { id: (JSON.parse(product) as ProductRef).id }, replicas },
        updates: parseUsage(usage),
      },
      // The usage field is ASCII (states, '@', digits, ';'): its length is HSTRLEN's.
      version: String(usage.length),
    };
  });
}

/** A job's owner, spec hash and ACL from its doc and acl fields (null: not stored); `aclField` as stored, '' when the ACL is in the doc. */
/** What places a stored job in its indexes beyond state and provider: owner, ACL, name. */
type Ownership = Pick<Job, 'owner' | 'acl' | 'specHash'> & { specification: { name?: string | null }; aclField: string };

function ownership(doc: string | null | undefined, acl: string | null | undefined): Ownership | null {
  if (doc === null || doc === undefined) return null;
  const stored = JSON.parse(doc) as Pick<Job, 'owner' | 'specHash'> & { acl?: Job['acl']; specification: { name?: string | null } };
  return {
    owner: stored.owner,
    specHash: stored.specHash,
    specification: { name: stored.specification.name ?? null },
    acl: acl === null || acl === undefined ? (stored.acl ?? []) : (JSON.parse(acl) as Job['acl']),
    aclField: acl ?? '',
  };
}

function pairsToRecord(pairs: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  // HGETALL answers name, value, name, value: pairs[i + 1] is there.
  for (let i = 0; i < pairs.length; i += 2) record[pairs[i]!] = pairs[i + 1]!;
  return record;
}

function refusalReason(state: JobState, change: JobChange, why: 'expect' | 'table'): string {
  return why === 'expect'
    ? `job is ${state}, expected ${change.expectStates!.join(' or ') || 'no state'}`
    : `job is ${state}, cannot become ${change.state}`;
}

function moveRefusalReason(job: Job, move: JobMove, why: 'state' | 'provider'): string {
  return why === 'state' ? `job is ${job.state}, not IN_QUEUE` : `job is at ${job.providerId}, not ${move.from}`;
}

function byProviderAndState(a: { providerId: string; state: JobState }, b: { providerId: string; state: JobState }): number {
  if (a.providerId !== b.providerId) return a.providerId < b.providerId ? -1 : 1;
  return JOB_STATES.indexOf(a.state) - JOB_STATES.indexOf(b.state);
}

/** A Redis lex range: '-' / '+' or '[' inclusive / '(' exclusive followed by a member. */
interface LexRange {
  min: string;
  max: string;
}

/** The largest time a uuid v7 can carry: 48 bits of milliseconds. */
const MAX_V7_MS = 2 ** 48 - 1;

/** The first 13 characters of every uuid v7 minted at `ms`. */
function v7Prefix(ms: number): string {
  const hex = Math.min(Math.max(Math.ceil(ms), 0), MAX_V7_MS)
    .toString(16)
    .padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}

/** createdAfter (inclusive) and createdBefore (exclusive) as a lex range of uuid v7 ids. */
function timeRange(query: Pick<JobQuery, 'createdAfter' | 'createdBefore'>): LexRange {
  return {
    min: query.createdAfter === undefined ? '-' : `[${v7Prefix(query.createdAfter)}`,
    max: query.createdBefore === undefined ? '+' : `(${v7Prefix(query.createdBefore)}`,
  };
}

/** `range` shrunk to the ids strictly past `id` in query order (keeps the tighter bound). */
function after(range: LexRange, order: JobQuery['order'], id: string): LexRange {
  if (order === 'ASC') return range.min === '-' || id >= range.min.slice(1) ? { ...range, min: `(${id}` } : range;
  return range.max === '+' || id <= range.max.slice(1) ? { ...range, max: `(${id}` } : range;
}

/** The range left after reading up to `last` in query order. */
function narrow(range: LexRange, order: JobQuery['order'], last: string): LexRange {
  return order === 'ASC' ? { ...range, min: `(${last}` } : { ...range, max: `(${last}` };
}

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new InvalidInputError(`"${cursor}" is not a cursor of this list`);
  return id;
}

/**
 * Which indexes hold the candidates, whether they may hold a job twice, and
 * what must still be checked on each job (null when the indexes answer the
 * query exactly). An empty `states` or `providers` list filters nothing, like
 * an absent one.
 */
function planQuery(key: KeyLayout, query: JobQuery): { indexKeys: string[]; overlapping: boolean; residual: ((job: Job) => boolean) | null } {
  const states = query.states?.length ? [...new Set(query.states)] : null;
  const providers = query.providers?.length ? [...new Set(query.providers)] : null;
  const checks: ((job: Job) => boolean)[] = [];
  const checkStates = () => checks.push((job) => states!.includes(job.state));
  const checkProviders = () => checks.push((job) => providers!.includes(job.providerId));
  const checkCreator = (user: string) => checks.push((job) => job.owner.createdBy === user);
  let indexKeys: string[];
  let overlapping = false;
  if (query.name !== undefined && query.createdBy !== undefined) {
    // One creator's jobs of one name (a dialect's lookup by name): a small index, each job's other filters checked.
    indexKeys = [key.creatorName(query.createdBy, query.name)];
    if (query.sources !== undefined) checks.push(inSources(query.sources));
    if (states) checkStates();
    if (providers) checkProviders();
  } else if (query.sources !== undefined) {
    const sources = distinctSources(query.sources);
    // One user's own jobs in some states: the creator's per-state indexes, each job's project checked.
    const own = states ? soleCreator(sources) : null;
    if (own) {
      indexKeys = states!.map((state) => key.creatorState(own.createdBy, state));
      checks.push((job) => own.projects.has(job.owner.project ?? null));
    } else {
      indexKeys = sources.map((source) => sourceKey(key, source));
      overlapping = sourcesOverlap(sources);
      if (states) checkStates();
    }
    if (providers) checkProviders();
    if (query.createdBy !== undefined) checkCreator(query.createdBy);
  } else if (query.createdBy !== undefined) {
    const user = query.createdBy;
    indexKeys = states ? states.map((state) => key.creatorState(user, state)) : [key.creator(user)];
    if (providers) checkProviders();
  } else if (states) {
    indexKeys = providers
      ? providers.flatMap((provider) => states.map((state) => key.providerState(provider, state)))
      : states.map((state) => key.state(state));
  } else if (providers) {
    indexKeys = providers.map((provider) => key.provider(provider));
  } else {
    indexKeys = [key.all];
  }
  const { name, predicate } = query;
  if (name !== undefined && query.createdBy === undefined) checks.push((job) => job.specification.name === name);
  if (predicate !== undefined) checks.push(predicate);
  return { indexKeys, overlapping, residual: checks.length === 0 ? null : (job) => checks.every((check) => check(job)) };
}

/** The creator+name index a named job is in (none for a job without a name). */
function nameKeys(key: KeyLayout, job: Pick<Job, 'owner'> & { specification: { name?: string | null } }): string[] {
  const { name } = job.specification;
  return name ? [key.creatorName(job.owner.createdBy, name)] : [];
}

function sourceKey(key: KeyLayout, source: JobSource): string {
  switch (source.kind) {
    case 'personal':
      return key.personal(source.createdBy);
    case 'project':
      return key.projectJobs(source.project);
    case 'projectCreator':
      return key.projectCreator(source.project, source.createdBy);
    case 'shared':
      return key.shared(source.project, source.entity);
  }
}

/** `text` matched literally by a SCAN pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Ids read per round trip by a backfill. */
const BACKFILL_CHUNK = 500;

/**
 * Indexes added after a deployment had data, built once from that data (`<p>:migrations`
 * records which), at startup: the users set (`<p>:users`, which listUsers reads) and the job
 * sources. Idempotent: replicas starting together may both run it, adding the same members.
 */
async function backfill(redis: RedisClient, key: KeyLayout): Promise<void> {
  const done = new Set(await redis.smembers(key.migrations));
  if (!done.has('users')) {
    const userKey = key.user('');
    // `<p>:user:<name>` is the user; `<p>:user:<name>:tokens` and the like are its indexes.
    const keys = await scanKeys(redis, key.userPattern);
    const names = keys.map((found) => found.slice(userKey.length)).filter((rest) => rest !== '' && !rest.includes(':'));
    for (let i = 0; i < names.length; i += 1000) {
      await redis.sadd(key.users, ...names.slice(i, i + 1000).map((name) => decodeURIComponent(name)));
    }
    await redis.sadd(key.migrations, 'users');
  }
  if (!done.has('job-sources')) {
    let min = '-';
    for (;;) {
      const ids = await redis.zrangebylex(key.all, min, '+', 'LIMIT', 0, BACKFILL_CHUNK);
      const owned = await Promise.all(ids.map((id) => redis.hmget(key.job(id), 'doc', 'acl')));
      const adds: Promise<unknown>[] = [];
      for (const [i, [doc, acl]] of owned.entries()) {
        const job = ownership(doc, acl);
        if (job) for (const source of sourcesOfJob(job)) adds.push(redis.zadd(sourceKey(key, source), 0, ids[i]!));
      }
      await Promise.all(adds);
      if (ids.length < BACKFILL_CHUNK) break;
      min = `(${ids.at(-1)!}`;
    }
    await redis.sadd(key.migrations, 'job-sources');
  }
  if (!done.has('creator-names')) {
    let min = '-';
    for (;;) {
      const ids = await redis.zrangebylex(key.all, min, '+', 'LIMIT', 0, BACKFILL_CHUNK);
      const docs = await Promise.all(ids.map((id) => redis.hget(key.job(id), 'doc')));
      const adds: Promise<unknown>[] = [];
      for (const [i, doc] of docs.entries()) {
        const job = ownership(doc, null);
        if (job) for (const nameKey of nameKeys(key, job)) adds.push(redis.zadd(nameKey, 0, ids[i]!));
      }
      await Promise.all(adds);
      if (ids.length < BACKFILL_CHUNK) break;
      min = `(${ids.at(-1)!}`;
    }
    await redis.sadd(key.migrations, 'creator-names');
  }
}
