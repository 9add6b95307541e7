/**
 * Accounting's Prometheus metrics, registered on the gateway's one Registry.
 * Labelled by provider only: never a job, user or project.
 */
import { Counter, type Registry } from 'prom-client';

export interface AccountingMetrics {
  /** Credits debited from wallets. */
  readonly creditsCharged: Counter<'provider'>;
  /** Charges that failed (Redis unreachable, a script error): the job keeps running and the next round retries. */
  readonly chargeFailures: Counter<'provider'>;
  /** Running jobs reported dry by a charge, to be stopped by the gateway. */
  readonly jobsStoppedNoCredits: Counter<'provider'>;
}

/** Creates and registers the counters; call once per registry (prom-client refuses a name twice). */
export function createAccountingMetrics(registry: Registry): AccountingMetrics {
  return {
    creditsCharged: new Counter({
      name: 'switchyard_credits_charged_total',
      help: 'Credits debited from wallets, by provider',
      labelNames: ['provider'],
      registers: [registry],
    }),
    chargeFailures: new Counter({
      name: 'switchyard_charge_failures_total',
      help: 'Charges that could not be made (the next round retries them), by provider',
      labelNames: ['provider'],
      registers: [registry],
    }),
    jobsStoppedNoCredits: new Counter({
      name: 'switchyard_jobs_stopped_no_credits_total',
      help: 'Running jobs whose wallet could not pay a charge in full and are stopped, by provider',
      labelNames: ['provider'],
      registers: [registry],
    }),
  };
}
