/**
 * A gateway for fuzzing: in-process, with the embedded default's providers (the
 * local machine, a simulated HPC cluster and a simulated cloud), the memory or
 * the Redis store and ledger, and a world that stands still between requests,
 * so that any change to the store can be laid at the door of the request that
 * made it. Still: one manual clock for the gateway and the providers (tokens,
 * deadlines, balances and the simulated clusters move only when a test moves
 * it), no charging round and no waiting-room timer (a test sweeps by hand).
 * The local provider runs real processes; the fuzz test sends it only
 * commands that end at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import type { Ledger, Transaction, Wallet } from '../../gateway/accounting/ledger.js';
import { createMemoryLedger } from '../../gateway/accounting/memory-ledger.js';
import { createRedisLedger } from '../../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway } from '../../gateway/gateway.js';
import { createMemoryStore } from '../../gateway/store/memory-store.js';
import { createRedisStore } from '../../gateway/store/redis-store.js';
import type { ProjectRecord, Store, UserRecord, WaitingRecord } from '../../gateway/store/store.js';
import { createLocalDriver } from '../../providers/local/local-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../../providers/sdk/runtime.js';
import { CLOUD_CONFIG, HPC_CONFIG } from '../../providers/simulated/configs.js';
import { createSimulatedDriver, type SimulatedDriver } from '../../providers/simulated/simulated-driver.js';
import { createManualClock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { createSubjects } from '../../shared/subjects.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';
import { fund } from './credits.js';
import { createClient, eventually, type TestClient } from './graphql-client.js';
import { deleteKeys, redisUrl, uniquePrefix } from './services.js';

/** Everything a request could change, as plain data: two snapshots are equal when nothing changed. */
export interface StateSnapshot {
  jobs: Map<string, Job>;
  /** Every user any request tried to create, as the store has it (null: not stored). */
  users: Map<string, UserRecord | null>;
  /** Tokens the store was asked to keep so far. */
  tokensIssued: number;
  waiting: WaitingRecord[];
  /** Newest first. */
  transactions: Transaction[];
  /** The wallets of every owner a transaction names, as of the clock's now. */
  wallets: Wallet[];
  /** Every project, with its members, groups and invitations. */
  projects: Map<string, ProjectRecord>;
}

export interface FuzzGateway {
  gateway: Gateway;
  store: Store;
  ledger: Ledger;
  url: string;
  clock: ReturnType<typeof createManualClock>;
  /** Directories of the local provider's jobs: a path in a response is a leak. */
  stateDir: string;
  admin: TestClient;
  /** Two ordinary users with credits at every provider, and their passwords. */
  users: Record<'user' | 'other', { name: string; password: string; client: TestClient }>;
  snapshot(): Promise<StateSnapshot>;
  /**
   * Let what an accepted request set going finish: move the clock and the simulated
   * clusters a few seconds, sweep the waiting room, and wait until the store stops
   * changing and no local job is still running. Returns the state it came to rest in.
   */
  settle(): Promise<StateSnapshot>;
  stop(): Promise<void>;
}

/** Providers by id, as the embedded default (bin/dev.ts) names them. */
export const FUZZ_PROVIDERS = ['local', 'sim-hpc', 'sim-cloud'] as const;

export async function startFuzzGateway(options: { storage: 'memory' | 'redis'; /** @default silent */ logger?: Logger }): Promise<FuzzGateway> {
  const clock = createManualClock();
  const prefix = uniquePrefix();
  const transport = createMemoryTransport({ subjects: createSubjects(prefix) });
  const rawStore = options.storage === 'redis' ? await createRedisStore({ url: redisUrl(), keyPrefix: prefix }) : createMemoryStore();
  const ledger = options.storage === 'redis' ? await createRedisLedger({ url: redisUrl(), keyPrefix: prefix }) : createMemoryLedger();
  // The store has no list of users or tokens: remember every name and every token it was handed.
  const triedUsernames = new Set<string>();
  let tokensIssued = 0;
  const store: Store = new Proxy(rawStore, {
    get(target, property, receiver) {
      if (property === 'createUser') {
        return (user: UserRecord) => {
          triedUsernames.add(user.username);
          return target.createUser(user);
        };
      }
      if (property === 'putToken') {
        return (...args: Parameters<Store['putToken']>) => {
          tokensIssued += 1;
          return target.putToken(...args);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  const adminToken = randomBytes(24).toString('base64url');
  const stateDir = mkdtempSync(join(tmpdir(), 'sy-fuzz-'));
  const logger = options.logger ?? silentLogger();
  const gateway = createGateway({
    transport,
    store,
    ledger,
    clock,
    logger,
    adminToken,
    providerTimeoutMs: 2_000,
    // No charging round during a run: charges come only from jobs that requests end.
    chargeIntervalMs: 24 * 3_600_000,
    // No sweep of schedules and services either: a service a property created would make jobs behind the next one's back.
    recurringIntervalMs: 0,
  });
  // random 0.99: no simulated node failure (failureRate is 1 % at most).
  const simulated: [SimulatedDriver, SimulatedDriver] = [
    createSimulatedDriver(HPC_CONFIG, { random: () => 0.99, timers: 'manual' }),
    createSimulatedDriver(CLOUD_CONFIG, { random: () => 0.99, timers: 'manual' }),
  ];
  const runtimes: ProviderRuntime[] = [
    createProviderRuntime({
      transport,
      driver: createLocalDriver({ stateDir, terminateGraceMs: 200 }),
      id: 'local',
      kind: 'LOCAL',
      version: 'fuzz',
      clock,
      logger,
    }),
    createProviderRuntime({ transport, driver: simulated[0], id: 'sim-hpc', kind: 'SIMULATED', version: 'fuzz', clock, logger }),
    createProviderRuntime({ transport, driver: simulated[1], id: 'sim-cloud', kind: 'SIMULATED', version: 'fuzz', clock, logger }),
  ];
  for (const runtime of runtimes) await runtime.start();
  const address = await gateway.start(0, '127.0.0.1');
  // The waiting room's own timer would move waiting jobs between requests; settle() sweeps instead.
  await gateway.orchestrator.waitingRoom.stop();
  const url = `http://127.0.0.1:${address.port}`;
  const admin = createClient(url, adminToken);
  for (const id of FUZZ_PROVIDERS) await eventually(async () => gateway.registry.get(id)?.manifest, { what: `the ${id} manifest` });

  const users = {} as FuzzGateway['users'];
  for (const [role, name] of [
    ['user', 'fuzz-user'],
    ['other', 'fuzz-other'],
  ] as const) {
    const password = `pw-${name}-${randomBytes(6).toString('hex')}`;
    await admin.ok(`mutation ($u: String!, $p: String!) { createUser(username: $u, password: $p) { username } }`, { u: name, p: password });
    const res = await fetch(`${url}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: name, password }) });
    const { token } = (await res.json()) as { token: string };
    users[role] = { name, password, client: createClient(url, token) };
  }
  for (const owner of ['admin', users.user.name, users.other.name]) for (const id of FUZZ_PROVIDERS) await fund(admin, owner, id);

  const snapshot = async (): Promise<StateSnapshot> => {
    const page = await rawStore.listJobs({ order: 'ASC', first: 1_000_000 });
    const transactions: Transaction[] = [];
    let after: string | null = null;
    do {
      const part = await ledger.transactions({ first: 1_000, after });
      transactions.push(...part.items);
      after = part.hasNextPage ? part.endCursor : null;
    } while (after);
    const owners = new Map(transactions.map((t) => [`${t.isProject}\n${t.owner}`, { owner: t.owner, isProject: t.isProject }]));
    const wallets = (await Promise.all([...owners.values()].map((owner) => ledger.wallets(owner, clock.now())))).flat();
    const projects = new Map<string, ProjectRecord>();
    for (const id of await rawStore.listProjects()) projects.set(id, (await rawStore.getProject(id))!);
    const userRecords = new Map<string, UserRecord | null>();
    for (const name of [...triedUsernames].sort()) userRecords.set(name, await rawStore.getUser(name));
    return {
      jobs: new Map(page.jobs.map((job) => [job.id, job])),
      users: userRecords,
      tokensIssued,
      waiting: await rawStore.listWaiting(),
      transactions,
      wallets,
      projects,
    };
  };

  const settle = async (): Promise<StateSnapshot> => {
    clock.advance(5_000);
    for (const driver of simulated) await driver.tick();
    await gateway.orchestrator.waitingRoom.sweep();
    await Promise.all(runtimes.map((runtime) => runtime.flush()));
    let last = await snapshot();
    const deadline = Date.now() + 10_000;
    for (let quiet = 0; quiet < 3;) {
      if (Date.now() > deadline) {
        const running = [...last.jobs.values()].filter((job) => job.providerId === 'local' && !isFinalState(job.state)).map((job) => job.id);
        throw new Error(`the gateway did not come to rest within 10 s${running.length ? `; local jobs still running: ${running.join(', ')}` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      const next = await snapshot();
      const localRunning = [...next.jobs.values()].some((job) => job.providerId === 'local' && !isFinalState(job.state));
      quiet = isDeepStrictEqual(next, last) && !localRunning ? quiet + 1 : 0;
      last = next;
    }
    return last;
  };

  return {
    gateway,
    store,
    ledger,
    url,
    clock,
    stateDir,
    admin,
    users,
    snapshot,
    settle,
    async stop() {
      await gateway.stop();
      for (const runtime of runtimes) await runtime.stop();
      await transport.close();
      await rawStore.close();
      await ledger.close();
      if (options.storage === 'redis') await deleteKeys(prefix);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
