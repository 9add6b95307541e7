/**
 * Switchyard jobs, products, wallets and follow events as UCloud shows them
 * (its Job, JobUpdate, JobStatus, Product, ProductV2, ComputeSupport, WalletV1
 * and JobsFollowResponse). UCloud's job states are Switchyard's own, so a
 * state is shown as it is; what has no counterpart is null, as UCloud writes
 * an absent value.
 */
import { msToDuration, type Job, type JobLog, type JobUpdate, type Product } from '../../../shared/domain.js';
import type { Wallet } from '../../accounting/ledger.js';
import type { FeedStatus } from '../../jobs/job-feed.js';

/** The application shown for a job made through another API with a command and no application. */
export const INLINE_APPLICATION = { name: 'switchyard-command', version: 'inline' } as const;

export interface JobIncludeFlags {
  includeProduct: boolean;
  includeSupport: boolean;
  includeOthers: boolean;
}

const FREQUENCY = { CREDITS_PER_MINUTE: 'PERIODIC_MINUTE', CREDITS_PER_HOUR: 'PERIODIC_HOUR', CREDITS_PER_DAY: 'PERIODIC_DAY' } as const;

export function updateView(update: JobUpdate) {
  return {
    state: update.state,
    outputFolder: null,
    status: update.status,
    expectedState: null,
    expectedDifferentState: null,
    newTimeAllocation: update.newTimeAllocation,
    allowRestart: null,
    newMounts: null,
    timestamp: update.timestamp,
  };
}

export function logView(log: JobLog) {
  return { rank: log.rank, stdout: log.stdout, stderr: log.stderr };
}

/** Product.Compute as UCloud's v1 products API and retrieveProducts show it; `balance` when asked. */
export function productView(product: Product, providerId: string, balance: number | null = null) {
  return {
    type: 'compute',
    id: product.id,
    name: product.id,
    category: { id: product.category, name: product.category, provider: providerId },
    description: product.description || product.name,
    pricePerUnit: product.pricePerUnit,
    priority: product.priority,
    cpu: product.cpu,
    memoryInGigs: product.memoryInGigs,
    gpu: product.gpu,
    version: 1,
    freeToUse: product.freeToUse,
    unitOfPrice: product.unitOfPrice,
    chargeType: 'ABSOLUTE',
    hiddenInGrantApplications: false,
    productType: 'COMPUTE',
    balance,
  };
}

/** ProductV2 (GET /api/products/v2/browse): the category carries how it is accounted. */
export function productV2View(product: Product, providerId: string, balance: number | null = null) {
  return {
    type: 'compute',
    category: {
      name: product.category,
      provider: providerId,
      productType: 'COMPUTE',
      accountingUnit: { name: 'Credit', namePlural: 'Credits', floatingPoint: false, displayFrequencySuffix: true },
      accountingFrequency: FREQUENCY[product.unitOfPrice],
      freeToUse: product.freeToUse,
      allowSubAllocations: true,
    },
    name: product.id,
    description: product.description || product.name,
    productType: 'COMPUTE',
    price: product.pricePerUnit,
    hiddenInGrantApplications: false,
    cpu: product.cpu,
    cpuModel: null,
    memoryInGigs: product.memoryInGigs,
    memoryModel: null,
    gpu: product.gpu,
    gpuModel: null,
    balance,
    maxUsableBalance: balance,
  };
}

/** ComputeSupport: the product's support under the backend it runs, the others disabled. */
export function supportView(product: Product, providerId: string) {
  const s = product.support;
  const on = (backend: string) => s.backend === backend;
  return {
    product: { id: product.id, category: product.category, provider: providerId },
    docker: {
      enabled: on('DOCKER'),
      web: s.web,
      vnc: s.vnc,
      logs: s.logs,
      terminal: s.terminal,
      peers: s.peers,
      timeExtension: s.timeExtension,
      utilization: s.utilization,
    },
    virtualMachine: {
      enabled: on('VIRTUAL_MACHINE'),
      logs: s.logs,
      vnc: s.vnc,
      terminal: s.terminal,
      timeExtension: s.timeExtension,
      suspension: s.suspension,
      utilization: s.utilization,
    },
    native: {
      enabled: on('NATIVE'),
      logs: s.logs,
      vnc: s.vnc,
      terminal: s.terminal,
      timeExtension: s.timeExtension,
      utilization: s.utilization,
      web: s.web,
    },
  };
}

/** The job's time allocation with its extensions. */
function timeAllocationMs(job: Job): number | null {
  if (job.specification.timeAllocationMs === null) return null;
  return job.specification.timeAllocationMs + job.updates.reduce((sum, u) => sum + (u.newTimeAllocation ?? 0), 0);
}

/** The labels a job was given (UCloud's `labels`, kept as tags `key=value`). */
function labelsOf(tags: readonly string[]): Record<string, string> {
  return Object.fromEntries(tags.filter((tag) => tag.includes('=')).map((tag) => [tag.slice(0, tag.indexOf('=')), tag.slice(tag.indexOf('=') + 1)]));
}

export function statusView(
  status: Pick<FeedStatus, 'state' | 'startedAt' | 'expiresAt' | 'allowRestart'>,
  resolved: { product?: ReturnType<typeof productView> | null; support?: ReturnType<typeof supportView> | null } = {},
) {
  return {
    state: status.state,
    jobParametersJson: null,
    startedAt: status.startedAt,
    expiresAt: status.expiresAt,
    resolvedApplication: null,
    resolvedSupport: resolved.support ? { product: resolved.product ?? null, support: resolved.support } : null,
    resolvedProduct: resolved.product ?? null,
    allowRestart: status.allowRestart,
  };
}

/** A Job; `product` is its product as the provider sells it (unknown while the provider is away). */
export function jobView(job: Job, product: Product | undefined, flags: JobIncludeFlags) {
  const spec = job.specification;
  const allocation = timeAllocationMs(job);
  const resolvedProduct = flags.includeProduct && product ? productView(product, job.providerId) : null;
  const resolvedSupport = flags.includeSupport && product ? supportView(product, job.providerId) : null;
  return {
    id: job.id,
    createdAt: job.createdAt,
    owner: { createdBy: job.owner.createdBy, project: job.owner.project },
    permissions: flags.includeOthers
      ? { myself: ['ADMIN'], others: job.acl.map((entry) => ({ entity: { type: 'user', username: entry.entity }, permissions: entry.permissions })) }
      : null,
    providerGeneratedId: job.providerGeneratedId,
    updates: job.updates.map(updateView),
    specification: {
      application: spec.application ?? INLINE_APPLICATION,
      product: spec.product,
      name: spec.name,
      replicas: spec.replicas,
      allowDuplicateJob: spec.allowDuplicateJob,
      parameters: spec.parameters ?? null,
      resources: null,
      timeAllocation: allocation === null ? null : msToDuration(allocation),
      openedFile: null,
      restartOnExit: spec.restartOnExit,
      sshEnabled: spec.sshEnabled,
      labels: labelsOf(spec.tags),
    },
    status: statusView(job, { product: resolvedProduct, support: resolvedSupport }),
    output: null,
  };
}

/** JobsFollowResponse: updates, log lines and the new status of one event; the first carries the whole job too. */
export function followView(
  event: { updates: JobUpdate[]; logs: JobLog[]; status: FeedStatus | null },
  initialJob: ReturnType<typeof jobView> | null = null,
) {
  return {
    updates: event.updates.map(updateView),
    log: event.logs.map(logView),
    newStatus: event.status ? statusView(event.status) : null,
    initialJob,
  };
}

/** WalletV1 as GET /api/accounting/wallets/browse shows it. */
export function walletView(wallet: Wallet, product: Product | undefined) {
  return {
    owner: wallet.isProject ? { type: 'project', projectId: wallet.owner } : { type: 'user', username: wallet.owner },
    paysFor: { name: wallet.category, provider: wallet.provider },
    allocations: wallet.allocations.map((a) => ({
      id: a.id,
      allocationPath: [a.id],
      balance: a.balance,
      initialBalance: a.initialBalance,
      localBalance: a.balance,
      startDate: a.startDate,
      endDate: a.endDate,
      grantedIn: null,
    })),
    chargePolicy: 'EXPIRE_FIRST',
    productType: 'COMPUTE',
    chargeType: 'ABSOLUTE',
    unit: product?.unitOfPrice ?? 'CREDITS_PER_MINUTE',
  };
}
