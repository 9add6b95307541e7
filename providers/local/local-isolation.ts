/**
 * How the local provider confines its jobs, decided once at start (DESIGN
 * "Isolation"): the accounts jobs run as (only root can switch to them; any
 * other provider runs them as its own account, sandboxed all the same), how
 * product sizes are enforced (cgroups where writable, else rlimits), and a
 * sandbox that is proven to start before the first job needs it.
 */
import { randomUUID } from 'node:crypto';
import { access } from 'node:fs/promises';
import { userInfo } from 'node:os';

import { createAccountMap, describeAccount, UnsupportedError, type AccountMap, type Logger, type UnixAccount } from '../sdk/index.js';
import { detectCgroups, dropCgroup, type Cgroups } from './cgroups.js';
import { signalGroup } from './process-groups.js';
import { closedOrTimeout, exitCodeNow, firstLines, spawnRank, type RankSetup } from './rank-launch.js';
import { SAFE_PATH, type JobNetwork, type SandboxMode, type SandboxOptions } from './sandbox.js';

/** How product sizes are enforced: cgroups where writable else rlimits, cgroups or refuse to start, or rlimits only. */
export type LimitsMode = 'auto' | 'cgroup' | 'rlimit';

export interface LocalIsolationOptions {
  sandbox: SandboxMode;
  bwrapPath: string;
  network: JobNetwork;
  jobAccount?: string;
  userAccounts?: Record<string, string>;
  limits: LimitsMode;
  cgroupParent?: string;
  pidsLimit: number;
}

export interface LocalIsolation {
  /** Who jobs run as. */
  accounts: AccountMap;
  /** Whether the provider runs as root and so switches to the jobs' accounts. */
  switchUser: boolean;
  /** Where rank cgroups are made; null where limits are rlimits. */
  cgroups: Cgroups | null;
  sandbox: SandboxOptions;
}

/** How limits are enforced, as the subschema says it: cgroup-v1, cgroup-v2 or rlimit. */
export function limitsName(cgroups: Cgroups | null): string {
  return cgroups ? `cgroup-${cgroups.version}` : 'rlimit';
}

/** Who jobs run as, decided once at start. */
async function setUpAccounts(options: LocalIsolationOptions, logger: Logger): Promise<{ accounts: AccountMap; switchUser: boolean }> {
  const switchUser = process.getuid?.() === 0;
  if (switchUser) {
    const accounts = await createAccountMap({ defaultAccount: options.jobAccount, users: options.userAccounts });
    const mapped = Object.keys(options.userAccounts ?? {}).length;
    logger.info({ defaultAccount: describeAccount(accounts.defaultAccount), mappedUsers: mapped }, 'jobs run as unprivileged accounts');
    return { accounts, switchUser };
  }
  // Not root: it cannot become another account, so jobs run as the provider's own, still sandboxed.
  let name: string | null = null;
  try {
    name = userInfo().username;
  } catch {
    // A uid without a passwd entry (some containers).
  }
  const own: UnixAccount = { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, name };
  logger.warn(
    { account: describeAccount(own), ignoredSettings: options.jobAccount !== undefined || Object.keys(options.userAccounts ?? {}).length > 0 },
    'the local provider is not root: it cannot switch accounts, so jobs run as the provider’s own account (sandboxed all the same)',
  );
  return { accounts: { defaultAccount: own, accountFor: () => own, accounts: () => [own] }, switchUser };
}

async function setUpLimits(options: LocalIsolationOptions, logger: Logger): Promise<Cgroups | null> {
  let cgroups: Cgroups | null = null;
  if (options.limits !== 'rlimit') {
    const found = await detectCgroups({ parent: options.cgroupParent });
    if (found.cgroups) {
      cgroups = found.cgroups;
    } else if (options.limits === 'cgroup') {
      throw new UnsupportedError(`The local provider was told to enforce job limits with cgroups, but cannot: ${found.reason}`);
    } else {
      logger.warn(
        { reason: found.reason },
        'no writable cgroups: job limits are rlimits (address space and processes per account; CPUs are not enforced)',
      );
    }
  }
  if (cgroups)
    logger.info({ limits: limitsName(cgroups), parents: cgroups.parents, pidsLimit: options.pidsLimit }, 'job limits are enforced with cgroups');
  else logger.info({ limits: 'rlimit', pidsLimit: options.pidsLimit }, 'job limits are enforced with rlimits');
  return cgroups;
}

/** Run `true` through the whole chain once: a sandbox that cannot start is found now, not by the first job. */
async function checkSandbox(options: LocalIsolationOptions, setup: RankSetup, account: UnixAccount): Promise<void> {
  const started = await spawnRank(setup, {
    jobId: `sandbox-check-${randomUUID()}`,
    rank: 0,
    account,
    cwd: '/',
    writable: [],
    env: { PATH: SAFE_PATH },
    command: ['true'],
    limits: { cpu: 0, memoryBytes: 0, pids: options.pidsLimit },
  });
  if (started.spawned) await closedOrTimeout(started.spawned, 10_000);
  if (started.cgroup)
    await dropCgroup(started.cgroup.dirs, (error) =>
      setup.logger()?.warn({ err: error, jobId: 'sandbox-check', cgroups: started.cgroup?.dirs }, 'could not remove a rank cgroup'),
    );
  const code = started.spawned ? await exitCodeNow(started.spawned) : null;
  if (!started.ok || code !== 0) {
    if (started.spawned?.child.pid) signalGroup(started.spawned.child.pid, 'SIGKILL');
    const why = started.ok ? `a test command ended with ${code ?? 'no exit code'}: ${firstLines(started.spawned.stderr.held())}` : started.reason;
    throw new UnsupportedError(
      `The local provider cannot run jobs in its sandbox (${options.sandbox === 'bwrap' ? options.bwrapPath : 'setpriv'}): ${why}. ` +
        'bwrap needs a kernel that allows namespaces (as root, or unprivileged user namespaces otherwise).',
    );
  }
}

/**
 * Decide who jobs run as and how their limits are enforced, and prove the sandbox starts.
 * `stateDir` (its real path) is hidden from every job.
 */
export async function setUpIsolation(options: LocalIsolationOptions, stateDir: string, logger: Logger): Promise<LocalIsolation> {
  const { accounts, switchUser } = await setUpAccounts(options, logger);
  const cgroups = await setUpLimits(options, logger);
  const sandbox: SandboxOptions = { mode: options.sandbox, bwrapPath: options.bwrapPath, network: options.network, hidden: [stateDir], switchUser };
  if (options.sandbox === 'bwrap') {
    const found = await access(options.bwrapPath).then(
      () => true,
      () => false,
    );
    if (!found) {
      throw new UnsupportedError(
        `The local provider sandboxes jobs with bubblewrap, but ${options.bwrapPath} does not exist. Install it (Debian: apt-get install bubblewrap), ` +
          'or set SWITCHYARD_LOCAL_SANDBOX=none to run jobs without a sandbox (unsafe: they then see the host’s processes, files and network).',
      );
    }
  } else {
    logger.warn('SWITCHYARD_LOCAL_SANDBOX=none: jobs run without namespaces and see the host’s processes, files and network (unsafe)');
  }
  await checkSandbox(options, { cgroups, sandbox, logger: () => logger }, accounts.defaultAccount);
  logger.info({ sandbox: options.sandbox, network: options.network, stateDir }, 'jobs run sandboxed');
  return { accounts, switchUser, cgroups, sandbox };
}
