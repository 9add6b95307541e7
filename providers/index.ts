/** The provider kinds this build can run as a process: `switchyard provider <kind> --id <id>`. */
import { runCloudVmProvider } from './cloud-vm/main.js';
import { runKubernetesProvider } from './kubernetes/main.js';
import { runLocalProvider } from './local/main.js';
import { runSimulatedProvider } from './simulated/main.js';
import { runSlurmProvider } from './slurm/main.js';

export const PROVIDER_KINDS: Record<string, (id: string, env?: NodeJS.ProcessEnv) => Promise<void>> = {
  local: runLocalProvider,
  slurm: runSlurmProvider,
  simulated: runSimulatedProvider,
  kubernetes: runKubernetesProvider,
  'cloud-vm': runCloudVmProvider,
};
