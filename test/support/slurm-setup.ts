/**
 * Global setup of the e2e project: without SLURM_CONF it starts the single-node
 * Slurm test cluster (deploy/slurm/slurm-up.sh, which installs Slurm when
 * missing) and exports SLURM_CONF to the test workers; if that cannot be done,
 * the Slurm tests fail saying why.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function setup(): void {
  if (process.env.SLURM_CONF) return;
  const script = fileURLToPath(new URL('../../deploy/slurm/slurm-up.sh', import.meta.url));
  const runDir = process.env.SWITCHYARD_SLURM_DIR ?? '/tmp/switchyard-slurm';
  try {
    execFileSync('bash', [script, runDir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    const match = /^SLURM_CONF=(.+)$/m.exec(readFileSync(`${runDir}/slurm.env`, 'utf8'));
    if (match) process.env.SLURM_CONF = match[1]!.trim();
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    process.stderr.write(`global setup: could not start the Slurm test cluster; the Slurm tests will fail: ${detail}\n`);
  }
}
