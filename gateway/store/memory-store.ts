/**
 * The embedded Store: everything in this process's memory, for `npm start`
 * and development. It answers exactly as the Redis store does (the contract
 * suite runs against both); where in doubt, the Redis store is right.
 * Values are deep-copied in and out, so a caller never shares an object with
 * the store.
 */
import type { Job, JobLog, JobState } from '../../shared/domain.js';
import { InvalidInputError } from '../../shared/errors.js';
import { canTransition, isFinalState, JOB_STATES } from '../../shared/job-state-machine.js';
import { distinctSources, inSources, overlapGroups, sharedSources, sourceName, sourcesOfJob, type JobSource } from './job-sources.js';
import { createMemoryRecurring } from './memory-recurring.js';
import { createMemoryUsage } from './memory-usage.js';
import { indexChanges } from './project-indexes.js';
import {
  chargeableOf,
  isChargedState,
  type ChangeOutcome,
  type CreateOutcome,
  type InvitationRecord,
  type JobChange,
  type JobMove,
  type JobPage,
  type KeypairRecord,
  type MembershipRecord,
  type ProjectRecord,
  type Store,
  type TokenRecord,
  type UserRecord,
  type WaitingRecord,
  type WaitingSwap,
} from './store.js';

export interface MemoryStoreOptions {
  /**
   * Log lines kept per job; the oldest fall off.
   * @default 10000
   */
  maxLogLinesPerJob?: number;
}

interface StoredJob {
  job: Job;
  /** Event ids already applied. */
  events: Set<string>;
}

function sortedByProject<T>(entries: Map<string, T> | undefined): T[] {
  return [...(entries ?? [])].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, value]) => structuredClone(value));
}

/** A Store in this process's memory: nothing survives a restart. */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const maxLogLines = options.maxLogLinesPerJob ?? 10_000;
  if (!Number.isInteger(maxLogLines) || maxLogLines < 1) {
    throw new InvalidInputError(`maxLogLinesPerJob must be a positive integer, not ${maxLogLines}`);
  }
  const jobs = new Map<string, StoredJob>();
  /** Every id, sorted: uuid v7 ids sort by creation time, as in Redis's lex order. */
  const allIds: string[] = [];
  const idsByCreator = new Map<string, string[]>();
  /** creatorNameKey → ids of one creator's jobs of one name, sorted. */
  const idsByCreatorName = new Map<string, string[]>();
  /** sourceName → ids of the source's jobs, sorted (job-sources.ts). */
  const idsBySource = new Map<string, string[]>();
  /** (createdBy, specHash) → ids of jobs not yet final. */
  const activeDuplicates = new Map<string, Set<string>>();
  /** providerId → ids of jobs not yet final. */
  const activeByProvider = new Map<string, Set<string>>();
  /** providerId → state → count; entries stay at 0 once seen, as Redis's HINCRBY leaves them. */
  const counts = new Map<string, Map<JobState, number>>();
  /** Per job id, whether or not the job is stored: log lines may race ahead of it, as in Redis. */
  const logsByJob = new Map<string, JobLog[]>();
  /** The charging index: job id → when it next owes a charge (Infinity: not while it stays as it is). */
  const chargesDue = new Map<string, number>();
  const users = new Map<string, UserRecord>();
  const tokens = new Map<string, { token: TokenRecord; forgetAt: number }>();
  const keypairs = new Map<string, KeypairRecord>();
  const waiting = new Map<string, WaitingRecord>();
  const projects = new Map<string, ProjectRecord>();
  /** username → project id → the user's membership / invitation. */
  const memberships = new Map<string, Map<string, MembershipRecord>>();
  const invitations = new Map<string, Map<string, InvitationRecord>>();
  /** Per job id, the log events already appended. */
  const logEvents = new Map<string, Set<string>>();

  /** Store the project and bring each user's entries from `before` to it. */
  function putProject(before: ProjectRecord | null, next: ProjectRecord): void {
    projects.set(next.id, structuredClone(next));
    for (const { index, username, value } of indexChanges(before, next)) {
      const byUser: Map<string, Map<string, unknown>> = index === 'memberships' ? memberships : invitations;
      let entries = byUser.get(username);
      if (!entries) byUser.set(username, (entries = new Map()));
      if (value === null) entries.delete(next.id);
      else entries.set(next.id, structuredClone(value));
    }
  }

  const duplicateKey = (job: Job) => JSON.stringify([job.owner.createdBy, job.specHash]);

  function count(providerId: string, state: JobState, by: number): void {
    let byState = counts.get(providerId);
    if (!byState) counts.set(providerId, (byState = new Map()));
    byState.set(state, (byState.get(state) ?? 0) + by);
  }

  function setMember(map: Map<string, Set<string>>, key: string, id: string, present: boolean): void {
    let members = map.get(key);
    if (present) {
      if (!members) map.set(key, (members = new Set()));
      members.add(id);
    } else {
      members?.delete(id);
      if (members?.size === 0) map.delete(key);
    }
  }

  function placeInSources(id: string, sources: readonly JobSource[], present: boolean): void {
    for (const source of sources) {
      const name = sourceName(source);
      let ids = idsBySource.get(name);
      if (present) {
        if (!ids) idsBySource.set(name, (ids = []));
        insertSorted(ids, id);
      } else if (ids) {
        removeSorted(ids, id);
        if (ids.length === 0) idsBySource.delete(name);
      }
    }
  }

  /** The ids of the sources' jobs, each once, sorted. */
  function idsInSources(sources: readonly JobSource[]): string[] {
    const lists = distinctSources(sources).map((source) => idsBySource.get(sourceName(source)) ?? []);
    if (lists.length === 1) return lists[0]!;
    return [...new Set(lists.flat())].sort();
  }

  function createJob(input: Job, { exclusive }: { exclusive: boolean }): CreateOutcome {
    const stored = jobs.get(input.id);
    // The same job again is a repeat of the call that stored it (as Redis sees a command resent after a reconnect).
    if (stored) return JSON.stringify(stored.job) === JSON.stringify(input) ? { created: true } : { created: false, duplicateOf: input.id };
    const job = structuredClone(input);
    const dedupe = duplicateKey(job);
    const active = activeDuplicates.get(dedupe);
    if (exclusive && active && active.size > 0) return { created: false, duplicateOf: maxOf(active) };
    jobs.set(job.id, { job, events: new Set() });
    insertSorted(allIds, job.id);
    let mine = idsByCreator.get(job.owner.createdBy);
    if (!mine) idsByCreator.set(job.owner.createdBy, (mine = []));
    insertSorted(mine, job.id);
    if (job.specification.name) {
      const nameKey = creatorNameKey(job.owner.createdBy, job.specification.name);
      let named = idsByCreatorName.get(nameKey);
      if (!named) idsByCreatorName.set(nameKey, (named = []));
      insertSorted(named, job.id);
    }
    placeInSources(job.id, sourcesOfJob(job), true);
    if (!isFinalState(job.state)) {
      setMember(activeDuplicates, dedupe, job.id, true);
      setMember(activeByProvider, job.providerId, job.id, true);
    }
    count(job.providerId, job.state, 1);
    if (isChargedState(job.state)) chargesDue.set(job.id, job.createdAt);
    return { created: true };
  }

  function swapWaiting({ jobId, expectClaim, next }: WaitingSwap): boolean {
    const current = waiting.get(jobId);
    if (!current) return false;
    // A record from before claims existed has none: '' names it.
    if ((current.claim ?? '') !== expectClaim) return next !== null && current.claim === next.claim;
    if (next === null) waiting.delete(jobId);
    else waiting.set(jobId, structuredClone(next));
    return true;
  }

  return {
    async createJob(input, options): Promise<CreateOutcome> {
      return createJob(input, options);
    },

    async createJobs(entries) {
      return entries.map(({ job, exclusive, waiting: record }) => {
        const outcome = createJob(job, { exclusive });
        if (outcome.created && record) waiting.set(record.jobId, structuredClone(record));
        return outcome;
      });
    },

    async discardJob(id, providerId) {
      const stored = jobs.get(id);
      if (!stored || stored.job.state !== 'IN_QUEUE' || stored.job.providerId !== providerId) return false;
      const { job } = stored;
      jobs.delete(id);
      removeSorted(allIds, id);
      const mine = idsByCreator.get(job.owner.createdBy);
      if (mine) removeSorted(mine, id);
      if (job.specification.name) {
        const named = idsByCreatorName.get(creatorNameKey(job.owner.createdBy, job.specification.name));
        if (named) removeSorted(named, id);
      }
      placeInSources(id, sourcesOfJob(job), false);
      setMember(activeDuplicates, duplicateKey(job), id, false);
      setMember(activeByProvider, providerId, id, false);
      count(providerId, 'IN_QUEUE', -1);
      return true;
    },

    async getJob(id) {
      const stored = jobs.get(id);
      return stored ? structuredClone(stored.job) : null;
    },

    async getJobs(ids) {
      return ids.map((id) => {
        const stored = jobs.get(id);
        return stored ? structuredClone(stored.job) : null;
      });
    },

    async changeJob(id, change): Promise<ChangeOutcome> {
      const stored = jobs.get(id);
      if (!stored) return { kind: 'missing' };
      const { job } = stored;
      const current = job.state;
      if (change.expectProvider !== undefined && job.providerId !== change.expectProvider) {
        return { kind: 'refused', job: structuredClone(job), reason: `job is at ${job.providerId}, not ${change.expectProvider}` };
      }
      if (change.eventId !== undefined && stored.events.has(change.eventId)) {
        return { kind: 'duplicate', job: structuredClone(job) };
      }
      if (change.expectStates && !change.expectStates.includes(current)) {
        return { kind: 'refused', job: structuredClone(job), reason: refusalReason(current, change, 'expect') };
      }
      const target = change.state;
      const moved = target !== undefined && target !== current;
      if (moved && (isFinalState(current) || !canTransition(current, target))) {
        return { kind: 'refused', job: structuredClone(job), reason: refusalReason(current, change, 'table') };
      }

      if (change.eventId !== undefined) stored.events.add(change.eventId);
      if (change.exitCode !== undefined) job.exitCode = change.exitCode;
      if (change.startedAt !== undefined) job.startedAt = change.startedAt;
      if (change.expiresAt !== undefined) job.expiresAt = change.expiresAt;
      if (change.providerGeneratedId !== undefined) job.providerGeneratedId = change.providerGeneratedId;
      if (moved || change.status !== undefined || change.newTimeAllocation !== undefined) {
        job.updates.push({
          state: moved ? target : null,
          status: change.status ?? null,
          newTimeAllocation: change.newTimeAllocation ?? null,
          timestamp: change.timestamp,
        });
      }
      if (moved) {
        job.state = target;
        count(job.providerId, current, -1);
        count(job.providerId, target, 1);
        if (isFinalState(target)) {
          setMember(activeDuplicates, duplicateKey(job), job.id, false);
          setMember(activeByProvider, job.providerId, job.id, false);
        }
        if (isChargedState(target)) chargesDue.set(job.id, change.timestamp);
        else chargesDue.delete(job.id);
      }
      return { kind: 'applied', job: structuredClone(job), moved };
    },

    async reassignJob(id, move): Promise<ChangeOutcome> {
      const stored = jobs.get(id);
      if (!stored) return { kind: 'missing' };
      const { job } = stored;
      if (job.state !== 'IN_QUEUE') {
        return { kind: 'refused', job: structuredClone(job), reason: moveRefusalReason(job, move, 'state') };
      }
      if (job.providerId !== move.from) {
        return { kind: 'refused', job: structuredClone(job), reason: moveRefusalReason(job, move, 'provider') };
      }
      const { to } = move;
      job.providerId = to.providerId;
      job.specification.product = { id: to.product.id, category: to.product.category, provider: to.providerId };
      job.updates.push({ state: null, status: move.status, newTimeAllocation: null, timestamp: move.timestamp });
      // IN_QUEUE is not final, so the job is active at both ends.
      setMember(activeByProvider, move.from, job.id, false);
      setMember(activeByProvider, to.providerId, job.id, true);
      count(move.from, 'IN_QUEUE', -1);
      count(to.providerId, 'IN_QUEUE', 1);
      return { kind: 'applied', job: structuredClone(job), moved: false };
    },

    async listJobs(query): Promise<JobPage> {
      const { createdBy, name } = query;
      const states = query.states?.length ? query.states : null;
      const providers = query.providers?.length ? query.providers : null;
      const min = query.createdAfter === undefined ? null : v7Prefix(query.createdAfter);
      const max = query.createdBefore === undefined ? null : v7Prefix(query.createdBefore);
      const cursor = query.after === undefined ? undefined : decodeCursor(query.after);
      const first = Math.max(0, Math.floor(query.first));
      const ascending = query.order === 'ASC';

      if (query.sources !== undefined && !states && !providers && createdBy === undefined && name === undefined && !query.predicate) {
        // The sources answer exactly, as in the Redis store: count them, merge only the page.
        const sources = distinctSources(query.sources);
        const lists = sources.map((source) => idsBySource.get(sourceName(source)) ?? []);
        const { totalCount, ids } = mergedPage(lists, overlapGroups(sources), { min, max, cursor, ascending }, first + 1);
        const page = ids.slice(0, first).map((id) => structuredClone(jobs.get(id)!.job));
        return { jobs: page, endCursor: page.length > 0 ? encodeCursor(page.at(-1)!.id) : null, hasNextPage: ids.length > first, totalCount };
      }

      // One creator's jobs of one name come from their own index, each checked against the sources.
      const byName = createdBy !== undefined && name !== undefined;
      const visible = byName && query.sources !== undefined ? inSources(query.sources) : null;
      const candidates = byName
        ? (idsByCreatorName.get(creatorNameKey(createdBy, name)) ?? [])
        : query.sources !== undefined
          ? idsInSources(query.sources)
          : createdBy === undefined
            ? allIds
            : (idsByCreator.get(createdBy) ?? []);

      const page: Job[] = [];
      let totalCount = 0;
      let hasNextPage = false;
      for (let i = 0; i < candidates.length; i++) {
        const id = candidates[ascending ? i : candidates.length - 1 - i]!;
        // Same bounds as the Redis store's lex ranges: the id's embedded time.
        if ((min !== null && id < min) || (max !== null && id >= max)) continue;
        const { job } = jobs.get(id)!;
        if (createdBy !== undefined && job.owner.createdBy !== createdBy) continue;
        if (name !== undefined && job.specification.name !== name) continue;
        if (visible && !visible(job)) continue;
        if (states && !states.includes(job.state)) continue;
        if (providers && !providers.includes(job.providerId)) continue;
        if (query.predicate && !query.predicate(structuredClone(job))) continue;
        totalCount += 1;
        if (cursor !== undefined && (ascending ? id <= cursor : id >= cursor)) continue;
        if (page.length < first) page.push(structuredClone(job));
        else hasNextPage = true;
      }
      return {
        jobs: page,
        endCursor: page.length > 0 ? encodeCursor(page.at(-1)!.id) : null,
        hasNextPage,
        totalCount,
      };
    },

    async activeJobIds(providerId) {
      return [...(activeByProvider.get(providerId) ?? [])].sort();
    },

    async countJobs() {
      const result: { providerId: string; state: JobState; count: number }[] = [];
      for (const providerId of [...counts.keys()].sort()) {
        const byState = counts.get(providerId)!;
        for (const state of JOB_STATES) {
          const n = byState.get(state);
          if (n !== undefined) result.push({ providerId, state, count: n });
        }
      }
      return result;
    },

    async dueCharges(at) {
      const due: [string, number][] = [];
      for (const entry of chargesDue) if (entry[1] <= at) due.push(entry);
      return due.sort(([a, atA], [b, atB]) => atA - atB || (a < b ? -1 : 1)).map(([id]) => id);
    },

    async chargeRecords(ids) {
      return ids.map((id) => {
        const job = jobs.get(id)?.job;
        if (!job || !isChargedState(job.state)) {
          chargesDue.delete(id);
          return null;
        }
        return { job: chargeableOf(job), version: chargeVersion(job) };
      });
    },

    async scheduleCharges(schedules) {
      for (const { id, version, dueAt } of schedules) {
        const job = jobs.get(id)?.job;
        if (job && isChargedState(job.state) && chargeVersion(job) === version) chargesDue.set(id, dueAt ?? Infinity);
      }
    },

    async repairCharges() {
      let added = 0;
      for (const [id, { job }] of jobs) {
        if (isChargedState(job.state) && !chargesDue.has(id)) {
          chargesDue.set(id, 0);
          added += 1;
        }
      }
      return added;
    },

    async appendLogs(jobId, lines, eventId) {
      if (lines.length === 0) return;
      if (eventId !== undefined) {
        let seen = logEvents.get(jobId);
        if (!seen) logEvents.set(jobId, (seen = new Set()));
        if (seen.has(eventId)) return;
        seen.add(eventId);
      }
      let logs = logsByJob.get(jobId);
      if (!logs) logsByJob.set(jobId, (logs = []));
      for (const line of lines) logs.push(structuredClone(line));
      if (logs.length > maxLogLines) logs.splice(0, logs.length - maxLogLines);
    },

    async hasEvent(jobId, eventId) {
      return (jobs.get(jobId)?.events.has(eventId) ?? false) || (logEvents.get(jobId)?.has(eventId) ?? false);
    },

    async readLogs(jobId, { since, limit }) {
      const logs = logsByJob.get(jobId) ?? [];
      const matching = since === undefined ? logs : logs.filter((line) => line.timestamp > since);
      const n = limit === undefined ? matching.length : Math.max(0, Math.floor(limit));
      return structuredClone(n === 0 ? [] : matching.slice(-n));
    },

    async createUser(user) {
      if (users.has(user.username)) return false;
      users.set(user.username, structuredClone(user));
      return true;
    },

    async getUser(username) {
      const user = users.get(username);
      return user ? structuredClone(user) : null;
    },

    async updateUser(user) {
      if (!users.has(user.username)) return false;
      users.set(user.username, structuredClone(user));
      return true;
    },

    async listUsers() {
      return [...users.values()].sort((a, b) => (a.username < b.username ? -1 : 1)).map((user) => structuredClone(user));
    },

    async listTokens(username, now) {
      const elapsed = performance.now();
      return [...tokens]
        .filter(([, entry]) => entry.token.username === username && entry.forgetAt > elapsed && entry.token.expiresAt > now)
        .map(([tokenHash, entry]) => ({ ...structuredClone(entry.token), tokenHash }))
        .sort((a, b) => a.expiresAt - b.expiresAt || (a.tokenHash < b.tokenHash ? -1 : 1));
    },

    async deleteToken(tokenHash) {
      return tokens.delete(tokenHash);
    },

    async putToken(tokenHash, token, now) {
      // Forget the token after its remaining life in elapsed time (monotonic), as Redis's PX
      // expiry does; the caller's clock alone says how long that life is.
      const forgetAt = performance.now() + Math.max(1, token.expiresAt - now);
      tokens.set(tokenHash, { token: structuredClone(token), forgetAt });
      if (tokens.size % 1024 === 0) {
        const elapsed = performance.now();
        for (const [hash, entry] of tokens) if (entry.forgetAt <= elapsed) tokens.delete(hash);
      }
    },

    async getToken(tokenHash, now) {
      const entry = tokens.get(tokenHash);
      if (!entry) return null;
      if (entry.forgetAt <= performance.now()) {
        tokens.delete(tokenHash);
        return null;
      }
      return entry.token.expiresAt > now ? structuredClone(entry.token) : null;
    },

    async putKeypair(keypair) {
      if (keypairs.has(keypair.accessKey)) return false;
      keypairs.set(keypair.accessKey, structuredClone(keypair));
      return true;
    },

    async getKeypair(accessKey) {
      const keypair = keypairs.get(accessKey);
      return keypair ? structuredClone(keypair) : null;
    },

    async listKeypairs(username) {
      return [...keypairs.values()]
        .filter((keypair) => keypair.username === username)
        .sort((a, b) => a.createdAt - b.createdAt || (a.accessKey < b.accessKey ? -1 : 1))
        .map((keypair) => structuredClone(keypair));
    },

    async deleteKeypair(accessKey) {
      return keypairs.delete(accessKey);
    },

    async setJobAcl(id, acl) {
      const stored = jobs.get(id);
      if (!stored) return null;
      const { project } = stored.job.owner;
      placeInSources(id, sharedSources(project, stored.job.acl), false);
      placeInSources(id, sharedSources(project, acl), true);
      stored.job.acl = structuredClone(acl);
      return structuredClone(stored.job);
    },

    async createProject(project) {
      if (projects.has(project.id)) return false;
      putProject(null, project);
      return true;
    },

    async getProject(id) {
      const project = projects.get(id);
      return project ? structuredClone(project) : null;
    },

    async updateProject(next, expectVersion) {
      const current = projects.get(next.id);
      if (!current || current.version !== expectVersion) return false;
      putProject(current, next);
      return true;
    },

    async listProjects() {
      return [...projects.keys()].sort();
    },

    async membershipsOf(username) {
      return sortedByProject(memberships.get(username));
    },

    async invitationsOf(username) {
      return sortedByProject(invitations.get(username));
    },

    async putWaiting(record) {
      waiting.set(record.jobId, structuredClone(record));
    },

    async takeWaiting(jobId) {
      return waiting.delete(jobId);
    },

    async getWaiting(jobId) {
      const record = waiting.get(jobId);
      return record ? structuredClone(record) : null;
    },

    async swapWaiting(jobId, expectClaim, next) {
      return swapWaiting({ jobId, expectClaim, next });
    },

    async swapWaitings(swaps) {
      return swaps.map(swapWaiting);
    },

    async listWaiting() {
      return [...waiting.values()].sort((a, b) => (a.jobId < b.jobId ? -1 : 1)).map((r) => structuredClone(r));
    },

    ...createMemoryUsage(),

    schedules: createMemoryRecurring(),
    services: createMemoryRecurring(),
    repositories: createMemoryRecurring(),

    async ping() {},

    async close() {},
  };
}

function refusalReason(state: JobState, change: JobChange, why: 'expect' | 'table'): string {
  return why === 'expect'
    ? `job is ${state}, expected ${change.expectStates!.join(' or ') || 'no state'}`
    : `job is ${state}, cannot become ${change.state}`;
}

function moveRefusalReason(job: Job, move: JobMove, why: 'state' | 'provider'): string {
  return why === 'state' ? `job is ${job.state}, not IN_QUEUE` : `job is at ${job.providerId}, not ${move.from}`;
}

function creatorNameKey(createdBy: string, name: string): string {
  return JSON.stringify([createdBy, name]);
}

function removeSorted(ids: string[], id: string): void {
  const at = ids.lastIndexOf(id);
  if (at >= 0) ids.splice(at, 1);
}

function insertSorted(ids: string[], id: string): void {
  // New uuid v7 ids are almost always the greatest yet.
  const last = ids.at(-1);
  if (last === undefined || last < id) {
    ids.push(id);
    return;
  }
  ids.splice(lowerBound(ids, id), 0, id);
}

/** The index of the first id in the sorted list not below `bound`. */
function lowerBound(ids: readonly string[], bound: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ids[mid]! < bound) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Up to `wanted` ids of several sorted lists merged in query order from past the cursor, each id
 * once, within [min, max) (uuid v7 prefixes); and how many ids they hold in that range: summed
 * across `groups` (lists of different groups share no id), their union's within a group.
 */
function mergedPage(
  lists: readonly string[][],
  groups: readonly number[][],
  bounds: { min: string | null; max: string | null; cursor: string | undefined; ascending: boolean },
  wanted: number,
): { totalCount: number; ids: string[] } {
  const { min, max, cursor, ascending } = bounds;
  const ranges = lists.map((ids) => ({ ids, low: min === null ? 0 : lowerBound(ids, min), high: max === null ? ids.length : lowerBound(ids, max) }));
  const size = (at: number) => Math.max(0, ranges[at]!.high - ranges[at]!.low);
  let totalCount = 0;
  for (const group of groups) totalCount += group.length === 1 ? size(group[0]!) : unionSize(group.map((at) => ranges[at]!));
  // Each list's next position in query order, past the cursor.
  const heads = ranges.map(({ ids, low, high }) => {
    if (cursor === undefined) return ascending ? low : high - 1;
    // The least string above the cursor is the cursor and a NUL: the first id past it ascending.
    return ascending ? Math.max(low, lowerBound(ids, `${cursor}\u0000`)) : Math.min(high, lowerBound(ids, cursor)) - 1;
  });
  // The lists with an id left past the cursor, in a binary heap by their head (the next id in query order):
  // a page of n ids from k lists costs n log k comparisons, not n k (a member of many projects reads many lists).
  const before = (a: string, b: string) => (ascending ? a < b : a > b);
  const headOf = (list: number) => ranges[list]!.ids[heads[list]!]!;
  const heap = ranges.flatMap((range, list) => (heads[list]! >= range.low && heads[list]! < range.high ? [list] : []));
  const sift = (at: number) => {
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let top = at;
      if (left < heap.length && before(headOf(heap[left]!), headOf(heap[top]!))) top = left;
      if (right < heap.length && before(headOf(heap[right]!), headOf(heap[top]!))) top = right;
      if (top === at) return;
      [heap[at], heap[top]] = [heap[top]!, heap[at]!];
      at = top;
    }
  };
  for (let at = (heap.length >> 1) - 1; at >= 0; at--) sift(at);
  const result: string[] = [];
  while (result.length < wanted && heap.length > 0) {
    const list = heap[0]!;
    const id = headOf(list);
    // Lists of one project can hold the same job: each id once.
    if (result.at(-1) !== id) result.push(id);
    const next = heads[list]! + (ascending ? 1 : -1);
    heads[list] = next;
    if (next < ranges[list]!.low || next >= ranges[list]!.high) {
      // Used up: the heap's last takes its place (or the heap is empty).
      const last = heap.pop()!;
      if (heap.length > 0) heap[0] = last;
    }
    if (heap.length > 0) sift(0);
  }
  return { totalCount, ids: result };
}

/** How many distinct ids the sorted ranges hold together: a walk over them in order, no set built. */
function unionSize(ranges: readonly { ids: readonly string[]; low: number; high: number }[]): number {
  const at = ranges.map((range) => range.low);
  let count = 0;
  let last: string | undefined;
  for (;;) {
    let least: string | undefined;
    let from = -1;
    for (let r = 0; r < ranges.length; r++) {
      const id = at[r]! < ranges[r]!.high ? ranges[r]!.ids[at[r]!] : undefined;
      if (id !== undefined && (least === undefined || id < least)) [least, from] = [id, r];
    }
    if (least === undefined) return count;
    at[from] = at[from]! + 1;
    if (least !== last) count += 1;
    last = least;
  }
}

function maxOf(ids: Set<string>): string {
  let max = '';
  for (const id of ids) if (id > max) max = id;
  return max;
}

/** The first 13 characters of every uuid v7 minted at `ms` (48 bits of milliseconds). */
function v7Prefix(ms: number): string {
  const hex = Math.min(Math.max(Math.ceil(ms), 0), 2 ** 48 - 1)
    .toString(16)
    .padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new InvalidInputError(`"${cursor}" is not a cursor of this list`);
  return id;
}

/** What a charge depends on: the job's moves of state (a status alone changes nothing charged). */
function chargeVersion(job: Job): string {
  return String(job.updates.reduce((moves, { state }) => (state === null ? moves : moves + 1), 0));
}
