/** The simulated provider process: its settings and driver, run by the SDK's process entry. */
import { z } from 'zod';

import { systemClock } from '../../shared/clock.js';
import { readProviderSettings, runProviderProcess } from '../sdk/index.js';
import { SIMULATED_CONFIGS } from './configs.js';
import { createSimulatedDriver, type SimulatedConfig } from './simulated-driver.js';

export const SIMULATED_PROVIDER_VERSION = '0.1.0';

/** The simulated provider's own settings, beside those every provider reads. */
export const simulatedSettings = {
  /** Which ready-made configuration: an HPC-like cluster or a cloud-like region. */
  SWITCHYARD_SIM_CONFIG: z.enum(['hpc', 'cloud']).default('hpc'),
  /** Virtual milliseconds per real millisecond: 60 runs a virtual minute per second. */
  SWITCHYARD_SIM_TIME_SCALE: z.coerce.number().positive().finite().default(1),
  /** Overrides the configuration's failure rate; a probability from 0 to 1. */
  SWITCHYARD_SIM_FAILURE_RATE: z.coerce.number().min(0).max(1).optional(),
  /** Fault injection: every create answers only after this many milliseconds (0: at once). */
  SWITCHYARD_SIM_CREATE_DELAY_MS: z.coerce.number().int().min(0).default(0),
};

/** Read the settings and pick the configuration they name; throws ConfigError naming every bad variable. */
export function readSimulatedSettings(env: NodeJS.ProcessEnv = process.env) {
  const settings = readProviderSettings(simulatedSettings, env);
  const base = SIMULATED_CONFIGS[settings.SWITCHYARD_SIM_CONFIG];
  const config: SimulatedConfig =
    settings.SWITCHYARD_SIM_FAILURE_RATE === undefined ? base : { ...base, failureRate: settings.SWITCHYARD_SIM_FAILURE_RATE };
  return { settings, config, timeScale: settings.SWITCHYARD_SIM_TIME_SCALE };
}

export async function runSimulatedProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { config, timeScale } = readSimulatedSettings(env);
  await runProviderProcess({
    id,
    kind: 'SIMULATED',
    version: SIMULATED_PROVIDER_VERSION,
    settings: simulatedSettings,
    env,
    createDriver: (settings) =>
      createSimulatedDriver(config, { clock: systemClock, timeScale, createDelayMs: settings.SWITCHYARD_SIM_CREATE_DELAY_MS }),
    describe: (settings) => ({ config: settings.SWITCHYARD_SIM_CONFIG, timeScale, failureRate: config.failureRate }),
  });
}
