/**
 * The gateway's state, behind one interface with two implementations: Redis
 * (production; every multi-step change one Lua script) and in-memory (the
 * embedded default). Both pass test/store-contract.test.ts.
 */
import type { AclEntry, Job, JobLog, JobState, JobUpdate } from '../../shared/domain.js';
import type { JobSource } from './job-sources.js';

/** A change to one job, applied atomically (compare-and-set on its state). */
export interface JobChange {
  /** Applied at most once: a replay of the same event id changes nothing. */
  eventId?: string;
  /** Target state, checked against the transition table; equal to the current state means no move. */
  state?: JobState;
  /** Compare-and-set: refuse unless the job is in one of these states. */
  expectStates?: JobState[];
  /** Refuse unless the job is at this provider (an event from a provider the job left). */
  expectProvider?: string;
  /** The human status line of the update this change records. */
  status?: string;
  exitCode?: number;
  startedAt?: number;
  expiresAt?: number;
  providerGeneratedId?: string;
  /** Milliseconds added by an extension; recorded on the update. */
  newTimeAllocation?: number;
  timestamp: number;
}

/** Where {@link Store.reassignJob} moves a job: its spec's product.provider becomes `to.providerId`. */
export interface JobMove {
  /** Compare-and-set: refuse unless the job is still at this provider. */
  from: string;
  to: { providerId: string; product: { id: string; category: string } };
  /** The human status line of the update this move records. */
  status: string;
  timestamp: number;
}

export type ChangeOutcome =
  | { kind: 'applied'; job: Job; moved: boolean }
  | { kind: 'duplicate'; job: Job }
  | { kind: 'refused'; job: Job; reason: string }
  | { kind: 'missing' };

export type CreateOutcome = { created: true } | { created: false; duplicateOf: string };

/** States in which a job uses its product, so charging rounds charge it (CANCELING until it has stopped). */
export const CHARGED_STATES: readonly JobState[] = ['RUNNING', 'SUSPENDED', 'CANCELING'];

/** What a charging round needs of a job: a Job has all of it. */
export interface ChargeableJob extends Pick<Job, 'id' | 'owner' | 'providerId' | 'state' | 'startedAt'> {
  specification: { product: { id: string }; replicas: number };
  /** The updates that moved the state, in the order they were recorded (usage.ts reads only these). */
  updates: Pick<JobUpdate, 'state' | 'timestamp'>[];
}

/** A job's charging record as {@link Store.chargeRecords} read it. */
export interface ChargeRecord {
  job: ChargeableJob;
  /** What the job was when read: {@link Store.scheduleCharges} applies only while it still is. */
  version: string;
}

/** When a job next owes a charge, from the record read at `version`; null: not while it stays as it is (SUSPENDED). */
export interface ChargeSchedule {
  id: string;
  version: string;
  dueAt: number | null;
}

const CHARGED: ReadonlySet<JobState> = new Set(CHARGED_STATES);

export function isChargedState(state: JobState): boolean {
  return CHARGED.has(state);
}

/** A stored job's charging record: copies, so the caller shares nothing with the job. */
export function chargeableOf(job: Job): ChargeableJob {
  const updates: ChargeableJob['updates'] = [];
  for (const { state, timestamp } of job.updates) if (state !== null) updates.push({ state, timestamp });
  return {
    id: job.id,
    owner: { createdBy: job.owner.createdBy, project: job.owner.project },
    providerId: job.providerId,
    state: job.state,
    startedAt: job.startedAt,
    specification: { product: { id: job.specification.product.id }, replicas: job.specification.replicas },
    updates,
  };
}

/** One compare-and-set of {@link Store.swapWaitings}. */
export interface WaitingSwap {
  jobId: string;
  expectClaim: string;
  next: WaitingRecord | null;
}

/** A job to store with {@link Store.createJobs}. */
export interface NewJob {
  job: Job;
  /** Refuse it while the same creator has a job with the same specHash that has not reached a final state. */
  exclusive: boolean;
  /** Its waiting record, written with it (a job refused writes none). */
  waiting?: WaitingRecord;
}

export interface JobQuery {
  /**
   * Only jobs in at least one of these sources (job-sources.ts), each once: what the viewer may
   * see, read from the stores' indexes rather than checked job by job. Absent: every job.
   */
  sources?: JobSource[];
  /** Only jobs created by this user. */
  createdBy?: string;
  /** Only jobs of this specification name; with createdBy, read from the creator+name index. */
  name?: string;
  states?: JobState[];
  providers?: string[];
  /** Epoch ms, inclusive / exclusive. */
  createdAfter?: number;
  createdBefore?: number;
  order: 'ASC' | 'DESC';
  first: number;
  /** Opaque cursor from a previous page's endCursor. */
  after?: string;
  /** Further filters the indexes do not cover; applied while scanning. */
  predicate?: (job: Job) => boolean;
}

export interface JobPage {
  jobs: Job[];
  endCursor: string | null;
  hasNextPage: boolean;
  /** All jobs matching the query, across pages. */
  totalCount: number;
}

export interface UserRecord {
  username: string;
  passwordHash: string;
  admin: boolean;
  projects: string[];
  createdAt: number;
  /** Disabled by an administrator: no token of it works. @default false */
  disabled?: boolean;
  /** The OIDC subject (`sub`) of each issuer that signs this user in, by issuer: the first sign-in binds it. */
  oidcSubjects?: Record<string, string>;
}

/**
 * A job stored as IN_QUEUE that no provider has confirmed yet: it waits for
 * room or for its provider until its deadline, or a gateway replica is sending
 * it now and holds it. Written before the job itself, so a replica killed at
 * any moment leaves a record that another one picks up.
 */
export interface WaitingRecord {
  jobId: string;
  /** Epoch ms after which it fails for want of capacity (or of a reachable provider). */
  deadline: number;
  /** The request as given, to route it again (requirements, and the rest to validate against another product). */
  input: unknown;
  /**
   * A create may have reached the job's provider (it went out unanswered): the job may be sent
   * again only there, until that provider answers for it. @default false
   */
  pinned?: boolean;
  /** Its provider refused it for want of room: it goes again once the provider has room, not merely when reachable. @default false */
  forRoom?: boolean;
  /** A replica is sending the job until this time (epoch ms); past it, that replica is taken to have died. */
  heldUntil?: number;
  /** Unique per hold or park: what {@link Store.swapWaiting} compares. */
  claim?: string;
}

/** A member's role in a project, as UCloud names them: the PI leads it, ADMINs manage it with the PI, USERs work in it. */
export type ProjectRole = 'PI' | 'ADMIN' | 'USER';

export interface ProjectMemberRecord {
  username: string;
  role: ProjectRole;
  addedAt: number;
}

export interface ProjectGroupRecord {
  name: string;
  /** User names, each a member of the project. */
  members: string[];
}

export interface ProjectInviteRecord {
  username: string;
  role: Exclude<ProjectRole, 'PI'>;
  invitedBy: string;
  invitedAt: number;
}

/** A project: its members (exactly one PI), groups of members, and invitations not yet answered. */
export interface ProjectRecord {
  id: string;
  title: string;
  /** Archived: its records stay, nothing new runs in it. */
  archived: boolean;
  createdAt: number;
  createdBy: string;
  members: ProjectMemberRecord[];
  groups: ProjectGroupRecord[];
  invites: ProjectInviteRecord[];
  /** Bumped by every change: what {@link Store.updateProject} compares. */
  version: number;
}

/** One user's place in one project, as {@link Store.membershipsOf} keeps it beside the project. */
export interface MembershipRecord {
  project: string;
  role: ProjectRole;
  /** The project's groups the user is in. */
  groups: string[];
}

/** An invitation as its invitee sees it. */
export interface InvitationRecord extends Omit<ProjectInviteRecord, 'username'> {
  project: string;
}

export interface TokenRecord {
  username: string;
  expiresAt: number;
  /** When it was issued (absent on tokens issued before this was kept). */
  issuedAt?: number;
}

/**
 * An access/secret key pair of a user, for the Backend.AI dialect's HMAC request signing
 * (gateway/access/backendai-keypairs.ts). The secret is kept as issued: the signature of
 * every request is computed from it, as Backend.AI's manager keeps it.
 */
export interface KeypairRecord {
  accessKey: string;
  secretKey: string;
  username: string;
  createdAt: number;
}

/** A limit on what a workspace (or one user in a project) has in use at once, on one provider or product category or all. */
export interface QuotaRecord {
  /** The project the limit is for; null: a user's own workspace (then `user` is that user). */
  project: string | null;
  /** One user: within `project`, or the owner of the personal workspace; null: the whole project. */
  user: string | null;
  /** Null: every provider. */
  provider: string | null;
  /** Null: every product category. */
  category: string | null;
  /** At most this much in use at once; an absent resource is not limited. */
  limits: Partial<Record<'jobs' | 'cpu' | 'memoryInGigs' | 'gpu', number>>;
  setBy: string;
  setAt: number;
}

/** A job's hold on its workspace's usage, from when it is sent until it ends (gateway/routing/quota-rules.ts). */
export interface UsageLease {
  jobId: string;
  /** The usage cells it adds to. */
  cells: string[];
  amounts: Record<'jobs' | 'cpu' | 'memoryInGigs' | 'gpu', number>;
  /** Epoch ms when it was taken. */
  at: number;
  /** Fair-share weight per second it holds (core-equivalents). */
  weight: number;
  /** Fair-share usage charged when it was taken. */
  cost: number;
}

/** One limit a hold must stay within: counter `field` plus `delta` at most `limit`. */
export interface UsageCheck {
  field: string;
  delta: number;
  limit: number;
}

/** A workspace's usage now: its counters (field → amount), its jobs' holds, its decayed fair-share usage. */
export interface WorkspaceUsage {
  counters: Record<string, number>;
  leases: UsageLease[];
  /** Core-seconds as of `at`; null before its first job. */
  fairShare: { value: number; at: number } | null;
}

/**
 * A virtual cluster: a project's guaranteed share of one provider's capacity, and how far beyond
 * it the project may borrow (Kueue's nominal quota and borrowingLimit; docs/TENANCY.md).
 */
export interface VirtualClusterRecord {
  project: string;
  provider: string;
  /** Guaranteed while the project needs it; an absent resource is not guaranteed. */
  guaranteed: Partial<Record<'cpu' | 'memoryInGigs' | 'gpu', number>>;
  /** At most this much beyond `guaranteed` (per resource); an absent resource: borrowing is not limited. */
  borrowingLimit: Partial<Record<'cpu' | 'memoryInGigs' | 'gpu', number>>;
  /**
   * At most this much of `guaranteed` that the project does not use may be lent to others (per
   * resource; Kueue's lendingLimit); an absent resource: all of it may. Absent in records from before it.
   */
  lendingLimit?: Partial<Record<'cpu' | 'memoryInGigs' | 'gpu', number>>;
  setBy: string;
  setAt: number;
}

/**
 * One owner's job that reclaim stops borrowed jobs for, on one provider (gateway/jobs/reclaim.ts):
 * what it needs there and the jobs claimed to give it room. A job claimed for one is counted for no other.
 */
export interface ReclaimClaim {
  forJob: string;
  /** The usage key of its workspace. */
  workspace: string;
  /** What it needs on the provider (its product times its replicas). */
  need: Record<'jobs' | 'cpu' | 'memoryInGigs' | 'gpu', number>;
  /** The borrowed jobs stopped for it. */
  victims: string[];
  /** When they were claimed. */
  at: number;
}

/** The reclaims under way on one provider, shared by every gateway replica. */
export interface ReclaimLedger {
  /** What {@link Store.swapReclaims} compares; null while the provider has none. */
  version: string | null;
  claims: ReclaimClaim[];
}

/**
 * A record that makes jobs over time on its owner's behalf: a schedule (gateway/schedules/) or a
 * service (gateway/services/). The store keeps it whole (`doc`), finds it by workspace, and by
 * when a gateway has to look at it next (`dueAt`).
 */
export interface RecurringRecord<Doc> {
  /** A uuid v7: lex order is creation order. */
  id: string;
  owner: Job['owner'];
  /** Bumped by every change: what {@link RecurringRecords.put} compares. */
  version: number;
  /** Epoch ms from which a gateway's sweep takes it up; null: never (paused, stopped). */
  dueAt: number | null;
  doc: Doc;
}

/** One kind of recurring record; every change is a compare-and-set on its version. */
export interface RecurringRecords<Doc> {
  /**
   * Store `record` (its version must be `expectVersion + 1`) only while the stored one is at
   * `expectVersion`; null: only when there is none (a new record, version 1). False otherwise: of
   * replicas changing the same version, exactly one succeeds.
   */
  put(record: RecurringRecord<Doc>, expectVersion: number | null): Promise<boolean>;
  get(id: string): Promise<RecurringRecord<Doc> | null>;
  /** Remove it while it is at `expectVersion`; false when it changed or is gone. */
  delete(id: string, expectVersion: number): Promise<boolean>;
  /** The records of a workspace, oldest first: a project's (any creator), or with project null `createdBy`'s own. */
  list(workspace: Job['owner']): Promise<RecurringRecord<Doc>[]>;
  /** Up to `limit` records due by `now`, soonest first. */
  due(now: number, limit: number): Promise<RecurringRecord<Doc>[]>;
}

export type AcquireOutcome = { acquired: true } | { acquired: false; check: number; inUse: number };

export interface Store {
  /**
   * Store a new job. With `exclusive`, refuse when the same creator already
   * has a job with the same specHash that has not reached a final state.
   */
  createJob(job: Job, options: { exclusive: boolean }): Promise<CreateOutcome>;
  /**
   * Store new jobs, each as {@link createJob} would and in order (a job sees those before it:
   * a duplicate of an earlier one is refused), each with its waiting record: a job and its
   * record are written together or not at all. One outcome per job.
   */
  createJobs(jobs: readonly NewJob[]): Promise<CreateOutcome[]>;
  /**
   * Forget a job no provider took (its provider refused it as invalid): only while it is IN_QUEUE
   * on `providerId`, so a job that moved on is kept. True when it was forgotten.
   */
  discardJob(id: string, providerId: string): Promise<boolean>;
  getJob(id: string): Promise<Job | null>;
  getJobs(ids: string[]): Promise<(Job | null)[]>;
  changeJob(id: string, change: JobChange): Promise<ChangeOutcome>;
  /**
   * Failover: move a job that no provider has accepted yet to another provider
   * and product. Only while the job is IN_QUEUE and still at `from`; appends
   * an update with `status` (state null). Returns the job after the move.
   */
  reassignJob(id: string, move: JobMove): Promise<ChangeOutcome>;
  listJobs(query: JobQuery): Promise<JobPage>;
  /** Ids of a provider's jobs not yet in a final state (for reconciliation). */
  activeJobIds(providerId: string): Promise<string[]>;
  /** Jobs per provider and state, for metrics. */
  countJobs(): Promise<{ providerId: string; state: JobState; count: number }[]>;

  /**
   * The charging index: every job in a {@link CHARGED_STATES} state has a time at which it next
   * owes a charge. A job's move into a charged state makes it due at the move's timestamp; a move
   * out of them takes it out. Ids of the jobs due at or before `at`, soonest first.
   */
  dueCharges(at: number): Promise<string[]>;
  /** What a round needs of these jobs; null for a job not stored or no longer in a charged state. */
  chargeRecords(ids: readonly string[]): Promise<(ChargeRecord | null)[]>;
  /** Set when each job next owes a charge, each only while the job is still at the version read (else it stays due). */
  scheduleCharges(schedules: readonly ChargeSchedule[]): Promise<void>;
  /**
   * Make due every job in a charged state that the index does not hold (jobs written before the
   * index existed, or by a gateway that does not keep it). Idempotent; returns how many it added.
   */
  repairCharges(): Promise<number>;

  /**
   * Append log lines; the oldest fall off past the per-job bound. With `eventId` (the provider's
   * log event), a repeat of the same event appends nothing.
   */
  appendLogs(jobId: string, lines: JobLog[], eventId?: string): Promise<void>;
  /** Whether a provider event of this id (a job event or a log event) was applied to the job. */
  hasEvent(jobId: string, eventId: string): Promise<boolean>;
  /** Oldest first; `since` exclusive; `limit` takes the newest that many. */
  readLogs(jobId: string, options: { since?: number; limit?: number }): Promise<JobLog[]>;

  /** False when the user name is taken. */
  createUser(user: UserRecord): Promise<boolean>;
  getUser(username: string): Promise<UserRecord | null>;
  /** Replace a stored user; false when there is no such user (nothing is created). */
  updateUser(user: UserRecord): Promise<boolean>;
  /** Every user, by name. */
  listUsers(): Promise<UserRecord[]>;
  /**
   * Keep a token until `token.expiresAt` by the caller's clock (`now`); the store forgets it
   * `expiresAt - now` milliseconds later by its own elapsed time, as Redis's PX expiry does.
   */
  putToken(tokenHash: string, token: TokenRecord, now: number): Promise<void>;
  /** Null when unknown or expired by the caller's clock (`now`). */
  getToken(tokenHash: string, now: number): Promise<TokenRecord | null>;
  /** A user's tokens not expired by the caller's clock, soonest to expire first. */
  listTokens(username: string, now: number): Promise<(TokenRecord & { tokenHash: string })[]>;
  /** Forget a token at once; false when it was not there. */
  deleteToken(tokenHash: string): Promise<boolean>;

  /** Store a new key pair; false when its access key is taken (nothing changes). */
  putKeypair(keypair: KeypairRecord): Promise<boolean>;
  getKeypair(accessKey: string): Promise<KeypairRecord | null>;
  /** A user's key pairs, oldest first. */
  listKeypairs(username: string): Promise<KeypairRecord[]>;
  /** Forget a key pair at once; false when it was not there. */
  deleteKeypair(accessKey: string): Promise<boolean>;

  /** Replace a job's ACL (nothing else of it changes); null when the job is not stored. */
  setJobAcl(id: string, acl: AclEntry[]): Promise<Job | null>;

  /** Store a new project at version 1; false when its id is taken. */
  createProject(project: ProjectRecord): Promise<boolean>;
  getProject(id: string): Promise<ProjectRecord | null>;
  /**
   * Compare-and-set: replace the project with `next` (whose version must be `expectVersion + 1`)
   * only while it is at `expectVersion`, and keep every user's memberships and invitations in step
   * with it in the same step. False when another change came first (or the project is gone).
   */
  updateProject(next: ProjectRecord, expectVersion: number): Promise<boolean>;
  /** Every project id, sorted. */
  listProjects(): Promise<string[]>;
  /** The projects a user is a member of, by project id. */
  membershipsOf(username: string): Promise<MembershipRecord[]>;
  /** The invitations a user has not answered yet, by project id. */
  invitationsOf(username: string): Promise<InvitationRecord[]>;

  /** Park a job that waits at the gateway for capacity (scheduleTimeout). */
  putWaiting(record: WaitingRecord): Promise<void>;
  /** Claim a waiting job: true for exactly one caller, however many gateways ask. */
  takeWaiting(jobId: string): Promise<boolean>;
  /** Every waiting job, oldest first. */
  listWaiting(): Promise<WaitingRecord[]>;
  /** One job's record, or null when it has none. */
  getWaiting(jobId: string): Promise<WaitingRecord | null>;
  /**
   * Compare-and-set on one waiting record: replace it with `next` (remove it when null) only if
   * it is there with claim `expectClaim` ('' for a record that has none). True when replaced, or when it already is `next` (a
   * repeat after a lost reply); false when another caller changed or took it.
   */
  swapWaiting(jobId: string, expectClaim: string, next: WaitingRecord | null): Promise<boolean>;
  /** {@link swapWaiting} for many records at once, in order; one answer per swap. */
  swapWaitings(swaps: readonly WaitingSwap[]): Promise<boolean[]>;

  /** Set a quota, replacing the one of the same workspace, user, provider and category (its `key`). */
  putQuota(workspace: string, key: string, quota: QuotaRecord): Promise<void>;
  /** False when there was none. */
  deleteQuota(workspace: string, key: string): Promise<boolean>;
  /** A workspace's quotas, by key. */
  listQuotas(workspace: string): Promise<QuotaRecord[]>;
  /**
   * Atomically: take the job's hold on its workspace's usage unless a check would pass its limit
   * (`check` is then its index), replacing a hold the job had; the same hold again changes
   * nothing. A new hold adds its cost to the workspace's fair-share usage, decayed to `lease.at`.
   */
  acquireUsage(workspace: string, lease: UsageLease, checks: UsageCheck[], halfLifeMs: number): Promise<AcquireOutcome>;
  /** Give back the job's hold, at most once, correcting the fair-share usage to what it held until `now`; false when it held none. */
  releaseUsage(workspace: string, jobId: string, now: number, halfLifeMs: number): Promise<boolean>;
  /** The usage of each workspace, in order. */
  readUsage(workspaces: string[]): Promise<WorkspaceUsage[]>;

  /** Set a project's virtual cluster on a provider, replacing the one it had there. */
  putVirtualCluster(cluster: VirtualClusterRecord): Promise<void>;
  /** False when there was none. */
  deleteVirtualCluster(provider: string, project: string): Promise<boolean>;
  /** Every virtual cluster, by provider then project. */
  listVirtualClusters(): Promise<VirtualClusterRecord[]>;
  /** The reclaims under way on a provider. */
  readReclaims(providerId: string): Promise<ReclaimLedger>;
  /**
   * Compare-and-set on a provider's reclaims: replaced by `claims` (under a new version) only while
   * its version is still `expectVersion`, so two replicas never claim from the same view. True when
   * replaced; false when another caller changed it first.
   */
  swapReclaims(providerId: string, expectVersion: string | null, claims: ReclaimClaim[]): Promise<boolean>;
  /** Schedules: gateway/schedules/schedule-records.ts says what their doc holds. */
  readonly schedules: RecurringRecords<unknown>;
  /** Services: gateway/services/service-records.ts says what their doc holds. */
  readonly services: RecurringRecords<unknown>;
  /** Git repositories jobs check out (the Shakudo dialect's git servers); never due. */
  readonly repositories: RecurringRecords<unknown>;

  ping(): Promise<void>;
  close(): Promise<void>;
}
