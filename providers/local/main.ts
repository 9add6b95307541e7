/** The local provider process: settings → NATS → local driver → runtime (the SDK's process entry), and a clean stop on SIGTERM. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

import {
  accountSpecSchema,
  positiveIntSetting,
  readProviderSettings,
  runProviderProcess,
  userMapSetting,
  type ProviderProcessSettings,
} from '../sdk/index.js';
import { createLocalDriver, type LocalDriverOptions } from './local-driver.js';

export const LOCAL_PROVIDER_VERSION = '0.1.0';

const absolutePath = z.string().regex(/^\//, 'must be an absolute path');

/** The local provider's own settings (README "Settings"), on top of every provider's. */
export const localProviderSettings = {
  SWITCHYARD_LOCAL_STATE_DIR: z.string().min(1).optional(),
  SWITCHYARD_TERMINATE_GRACE_MS: positiveIntSetting.default(5_000),
  /** `bwrap`, or `none` to run jobs without namespaces (unsafe). */
  SWITCHYARD_LOCAL_SANDBOX: z.enum(['bwrap', 'none']).default('bwrap'),
  SWITCHYARD_LOCAL_BWRAP: absolutePath.default('/usr/bin/bwrap'),
  /** `none`: jobs get a loopback of their own; `host`: the host's network, its loopback services included. */
  SWITCHYARD_LOCAL_NETWORK: z.enum(['none', 'host']).default('none'),
  /** The account of jobs whose user the map does not name. */
  SWITCHYARD_LOCAL_JOB_USER: accountSpecSchema.default('nobody'),
  /** Switchyard user → Unix account: `alice=alice,bob=1001` or a JSON object. */
  SWITCHYARD_LOCAL_USER_MAP: userMapSetting.optional(),
  SWITCHYARD_LOCAL_LIMITS: z.enum(['auto', 'cgroup', 'rlimit']).default('auto'),
  SWITCHYARD_LOCAL_CGROUP_PARENT: absolutePath.optional(),
  SWITCHYARD_LOCAL_PIDS_LIMIT: positiveIntSetting.default(1024),
};

type LocalProviderSettings = ProviderProcessSettings<typeof localProviderSettings>;

/** The driver's options from the validated settings. */
export function localDriverOptions(id: string, settings: LocalProviderSettings): LocalDriverOptions {
  return {
    stateDir: settings.SWITCHYARD_LOCAL_STATE_DIR ?? join(tmpdir(), `switchyard-local-${id}`),
    terminateGraceMs: settings.SWITCHYARD_TERMINATE_GRACE_MS,
    sandbox: settings.SWITCHYARD_LOCAL_SANDBOX,
    bwrapPath: settings.SWITCHYARD_LOCAL_BWRAP,
    network: settings.SWITCHYARD_LOCAL_NETWORK,
    jobAccount: settings.SWITCHYARD_LOCAL_JOB_USER,
    userAccounts: settings.SWITCHYARD_LOCAL_USER_MAP ?? {},
    limits: settings.SWITCHYARD_LOCAL_LIMITS,
    cgroupParent: settings.SWITCHYARD_LOCAL_CGROUP_PARENT,
    pidsLimit: settings.SWITCHYARD_LOCAL_PIDS_LIMIT,
  };
}

/** The driver's options from the environment; throws ConfigError naming every bad variable. */
export function readLocalDriverOptions(id: string, env: NodeJS.ProcessEnv = process.env): LocalDriverOptions {
  return localDriverOptions(id, readProviderSettings(localProviderSettings, env) as LocalProviderSettings);
}

/** Run the local provider as a process; it refuses to start when it cannot sandbox its jobs (no bwrap, an unknown account, ...). */
export async function runLocalProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await runProviderProcess({
    id,
    kind: 'LOCAL',
    version: LOCAL_PROVIDER_VERSION,
    settings: localProviderSettings,
    env,
    createDriver: (settings) => createLocalDriver(localDriverOptions(id, settings)),
    describe: (settings) => ({
      sandbox: settings.SWITCHYARD_LOCAL_SANDBOX,
      network: settings.SWITCHYARD_LOCAL_NETWORK,
      jobUser: settings.SWITCHYARD_LOCAL_JOB_USER,
    }),
  });
}
