/**
 * Faults under load, at a larger load: the chaos run of test/chaos.test.ts
 * (test/support/chaos.ts) with 1,000 jobs submitted over 30 s while a gateway,
 * NATS, the provider and Redis are each SIGKILLed and started again. It starts
 * its own NATS and Redis (it kills them), two gateway processes and a local
 * provider. The counts are reported, never asserted.
 */
import { runChaos, type ChaosReport } from '../test/support/chaos.js';

export const CHAOS_JOBS = 1_000;

export type ChaosResult = Omit<ChaosReport, 'output'>;

export async function benchChaos(progress: (message: string) => void, jobs = CHAOS_JOBS): Promise<ChaosResult> {
  const { output: _output, ...report } = await runChaos({ jobs, submitMs: 30_000, batch: 25, settleMs: 240_000, progress });
  return report;
}
