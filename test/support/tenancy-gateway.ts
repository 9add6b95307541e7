/**
 * A gateway for the multi-tenancy tests: real NATS (transport) and real Redis
 * (store and ledger), a real local provider, users and projects made through
 * the API, and a snapshot of everything a request could change (jobs with
 * their ACLs, projects with their members, groups and invitations, each known
 * user's memberships and invitations, transactions and wallets, virtual clusters).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Transaction, Wallet } from '../../gateway/accounting/ledger.js';
import { createRedisLedger } from '../../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/gateway.js';
import { createRedisStore } from '../../gateway/store/redis-store.js';
import type {
  InvitationRecord,
  KeypairRecord,
  MembershipRecord,
  ProjectRecord,
  Store,
  TokenRecord,
  UserRecord,
  VirtualClusterRecord,
} from '../../gateway/store/store.js';
import { createLocalDriver } from '../../providers/local/local-driver.js';
import type { HostSize } from '../../providers/local/local-utilization.js';
import { createProviderRuntime, type ProviderRuntime } from '../../providers/sdk/runtime.js';
import { HPC_CONFIG } from '../../providers/simulated/configs.js';
import type { SimulatedConfig } from '../../providers/simulated/simulated-config.js';
import { createSimulatedDriver } from '../../providers/simulated/simulated-driver.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import { createSubjects } from '../../shared/subjects.js';
import { createNatsTransport } from '../../shared/transport/nats-transport.js';
import { fund } from './credits.js';
import { createClient, eventually, type TestClient } from './graphql-client.js';
import { deleteKeys, natsUrl, redisUrl, uniquePrefix } from './services.js';

export interface TenancySnapshot {
  jobs: Map<string, Job>;
  projects: Map<string, ProjectRecord>;
  memberships: Map<string, MembershipRecord[]>;
  invitations: Map<string, InvitationRecord[]>;
  transactions: Transaction[];
  wallets: Wallet[];
  users: UserRecord[];
  /** Each known user's live tokens. */
  tokens: Map<string, TokenRecord[]>;
  /** Each known user's Backend.AI key pairs. */
  keypairs: Map<string, KeypairRecord[]>;
  virtualClusters: VirtualClusterRecord[];
}

export interface TenancyGateway {
  gateway: Gateway;
  store: Store;
  url: string;
  admin: TestClient;
  /** A new user (with credits at the local provider unless `fund` is false), as a client in its own workspace. */
  user(name: string, options?: { fund?: boolean; password?: string }): Promise<TestClient>;
  /** Every user made with {@link user}. */
  usernames(): string[];
  snapshot(): Promise<TenancySnapshot>;
  /** More gateway replicas on the same NATS subjects and Redis keys ({@link TenancyOptions.replicas}). */
  replicas: { gateway: Gateway; url: string }[];
  stop(): Promise<void>;
}

export const LOCAL_SMALL = { id: 'local-small', provider: 'local' };

/** The real local provider `local` on its own transport, as the test gateways run it (its jobs' state in `stateDir`). */
export function localProviderRuntime(options: {
  transport: ProviderRuntimeTransport;
  stateDir: string;
  clock: Clock;
  logger?: ReturnType<typeof silentLogger>;
  hostSize?: HostSize;
}): ProviderRuntime {
  return createProviderRuntime({
    transport: options.transport,
    driver: createLocalDriver({ stateDir: options.stateDir, terminateGraceMs: 200, hostSize: options.hostSize }),
    id: 'local',
    kind: 'LOCAL',
    version: 'test',
    heartbeatIntervalMs: 500,
    clock: options.clock,
    logger: options.logger ?? silentLogger(),
  });
}
type ProviderRuntimeTransport = Parameters<typeof createProviderRuntime>[0]['transport'];

/** A simulated HPC cluster small enough to fill: 4 nodes of 32 CPUs and 4 GPUs (a gpu-4 job takes one), jobs start at once and run an hour. */
export const SMALL_HPC: SimulatedConfig = {
  ...HPC_CONFIG,
  nodes: { count: 4, cpu: 32, memoryInGigs: 256, gpu: 4 },
  startLatencyMs: 0,
  defaultDurationMs: 3_600_000,
};

/** The code of a response's first error. */
export const errorCode = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code;

export interface TenancyOptions extends Pick<GatewayOptions, 'oidcIssuers' | 'dialects' | 'unitMs' | 'recurringIntervalMs'> {
  /** A simulated provider `hpc` beside `local`, on its own NATS connection; its users are funded there too. */
  hpc?: SimulatedConfig;
  /** How often the gateway reads the providers' capacity. @default the gateway's */
  utilizationIntervalMs?: number;
  /** The gateway's clock (the providers keep the real one). @default systemClock */
  clock?: Clock;
  /** The size the local provider sells (more than this host's for tests that hold many sleeping jobs at once). @default this host's */
  localHostSize?: HostSize;
  /** How often running jobs are charged. @default a day: only jobs that end are charged while a test runs */
  chargeIntervalMs?: number;
  /** Gateway replicas beside the first, each with its own connections to the same NATS and Redis. @default 0 */
  replicas?: number;
  /** How often the other replicas read the providers' capacity. @default utilizationIntervalMs */
  replicaUtilizationIntervalMs?: number;
}

/** `options`: a second provider, and more of the gateway's options (OIDC issuers, say). */
export async function startTenancyGateway(options: TenancyOptions = {}): Promise<TenancyGateway> {
  const prefix = uniquePrefix();
  const subjects = createSubjects(prefix);
  const transport = await createNatsTransport({ url: natsUrl(), subjects });
  const providerTransport = await createNatsTransport({ url: natsUrl(), subjects });
  const store = await createRedisStore({ url: redisUrl(), keyPrefix: prefix });
  const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
  const adminToken = randomBytes(24).toString('base64url');
  const stateDir = mkdtempSync(join(tmpdir(), 'sy-tenancy-'));
  const logger = silentLogger();
  const gatewayOptions = {
    clock: options.clock ?? systemClock,
    logger,
    adminToken,
    providerTimeoutMs: 2_000,
    // No charging round while a test runs: only jobs that end are charged, so a snapshot moves only by requests.
    chargeIntervalMs: options.chargeIntervalMs ?? 24 * 3_600_000,
    unitMs: options.unitMs,
    oidcIssuers: options.oidcIssuers,
    dialects: options.dialects,
    utilizationIntervalMs: options.utilizationIntervalMs,
    recurringIntervalMs: options.recurringIntervalMs,
  };
  const gateway = createGateway({ transport, store, ledger, ...gatewayOptions });
  const replicas: { gateway: Gateway; url: string; close: () => Promise<void> }[] = [];
  for (let k = 0; k < (options.replicas ?? 0); k++) {
    const [replicaTransport, replicaStore, replicaLedger] = await Promise.all([
      createNatsTransport({ url: natsUrl(), subjects }),
      createRedisStore({ url: redisUrl(), keyPrefix: prefix }),
      createRedisLedger({ url: redisUrl(), keyPrefix: prefix }),
    ]);
    const replica = createGateway({
      transport: replicaTransport,
      store: replicaStore,
      ledger: replicaLedger,
      ...gatewayOptions,
      utilizationIntervalMs: options.replicaUtilizationIntervalMs ?? options.utilizationIntervalMs,
    });
    const { port } = await replica.start(0, '127.0.0.1');
    replicas.push({
      gateway: replica,
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        await replica.stop();
        await replicaTransport.close();
        await replicaStore.close();
        await replicaLedger.close();
      },
    });
  }
  const runtime = localProviderRuntime({ transport: providerTransport, stateDir, clock: systemClock, logger, hostSize: options.localHostSize });
  await runtime.start();
  const hpcTransport = options.hpc ? await createNatsTransport({ url: natsUrl(), subjects }) : null;
  let hpc: ProviderRuntime | null = null;
  if (options.hpc && hpcTransport) {
    hpc = createProviderRuntime({
      transport: hpcTransport,
      driver: createSimulatedDriver(options.hpc, { clock: systemClock }),
      id: 'hpc',
      kind: 'SIMULATED',
      version: 'test',
      heartbeatIntervalMs: 500,
      clock: systemClock,
      logger,
    });
    await hpc.start();
  }
  const address = await gateway.start(0, '127.0.0.1');
  const url = `http://127.0.0.1:${address.port}`;
  const admin = createClient(url, adminToken);
  await eventually(async () => gateway.registry.get('local')?.manifest, { what: 'the local manifest' });
  for (const { gateway: one } of [{ gateway }, ...replicas]) {
    await eventually(async () => one.registry.get('local')?.manifest, { what: 'the local manifest on every replica' });
    if (hpc) await eventually(async () => one.registry.get('hpc')?.manifest, { what: 'the hpc manifest on every replica' });
  }
  const users: string[] = [];

  return {
    gateway,
    store,
    url,
    admin,
    usernames: () => [...users],
    replicas: replicas.map(({ gateway: one, url: at }) => ({ gateway: one, url: at })),
    async user(name, options = {}) {
      const password = options.password ?? `pw-${name}-${randomBytes(6).toString('hex')}`;
      await admin.ok(`mutation ($u: String!, $p: String!) { createUser(username: $u, password: $p) { username } }`, { u: name, p: password });
      users.push(name);
      const res = await fetch(`${url}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: name, password }) });
      if (options.fund ?? true) await fund(admin, name, 'local');
      if ((options.fund ?? true) && hpc) await fund(admin, name, 'hpc');
      return createClient(url, ((await res.json()) as { token: string }).token);
    },
    async snapshot() {
      const page = await store.listJobs({ order: 'ASC', first: 1_000_000 });
      const projects = new Map<string, ProjectRecord>();
      for (const id of await store.listProjects()) projects.set(id, (await store.getProject(id))!);
      const memberships = new Map<string, MembershipRecord[]>();
      const invitations = new Map<string, InvitationRecord[]>();
      const tokens = new Map<string, TokenRecord[]>();
      const keypairs = new Map<string, KeypairRecord[]>();
      for (const name of users) {
        memberships.set(name, await store.membershipsOf(name));
        invitations.set(name, await store.invitationsOf(name));
        tokens.set(name, await store.listTokens(name, systemClock.now()));
        keypairs.set(name, await store.listKeypairs(name));
      }
      const transactions = (await ledger.transactions({ first: 1_000 })).items;
      const owners = new Map(transactions.map((t) => [`${t.isProject}\n${t.owner}`, { owner: t.owner, isProject: t.isProject }]));
      const wallets = (await Promise.all([...owners.values()].map((owner) => ledger.wallets(owner, systemClock.now())))).flat();
      return {
        jobs: new Map(page.jobs.map((job) => [job.id, job])),
        projects,
        memberships,
        invitations,
        transactions,
        wallets,
        users: await store.listUsers(),
        tokens,
        keypairs,
        virtualClusters: await store.listVirtualClusters(),
      };
    },
    async stop() {
      for (const replica of replicas) await replica.close();
      await gateway.stop();
      await runtime.stop();
      await hpc?.stop();
      await hpcTransport?.close();
      await providerTransport.close();
      await transport.close();
      await store.close();
      await ledger.close();
      await deleteKeys(prefix);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
