/**
 * Turns a JobSpecificationInput (as GraphQL coerced it) into the validated
 * JobSpecification the store and providers see, checking it against the
 * product's support manifest before any provider is called.
 */
import { createHash } from 'node:crypto';

import type { JobSpecification, Product } from '../../shared/domain.js';
import { InvalidInputError, UnsupportedError } from '../../shared/errors.js';

export interface DurationInput {
  hours?: number | null;
  minutes?: number | null;
  seconds?: number | null;
}

export interface RequirementsInput {
  cpu?: number | null;
  memoryInGigs?: number | null;
  gpu?: number | null;
  backend?: string | null;
  providers?: string[] | null;
  maxCreditsPerMinute?: number | null;
  features?: string[] | null;
}

export interface JobSpecificationInput {
  product?: { id: string; category?: string | null; provider: string } | null;
  requirements?: RequirementsInput | null;
  application?: { name: string; version: string } | null;
  command?: string[] | null;
  image?: string | null;
  env?: unknown;
  workingDir?: string | null;
  name?: string | null;
  replicas?: number | null;
  allowDuplicateJob?: boolean | null;
  parameters?: unknown;
  resources?: unknown[] | null;
  timeAllocation?: DurationInput | null;
  restartOnExit?: boolean | null;
  sshEnabled?: boolean | null;
  tags?: string[] | null;
  description?: string | null;
  priority?: number | null;
  scheduleTimeout?: number | null;
  project?: string | null;
}

const MAX_ARGS = 1_000;
const MAX_TAGS = 50;

/** Milliseconds of a SimpleDurationInput; INVALID_INPUT for negative parts or a zero total. */
export function durationInputToMs(input: DurationInput, what: string): number {
  const hours = input.hours ?? 0;
  const minutes = input.minutes ?? 0;
  const seconds = input.seconds ?? 0;
  if ([hours, minutes, seconds].some((n) => !Number.isInteger(n) || n < 0))
    throw new InvalidInputError(`${what}: hours, minutes and seconds must be whole and not negative`);
  const ms = ((hours * 60 + minutes) * 60 + seconds) * 1000;
  if (ms <= 0) throw new InvalidInputError(`${what} must be longer than zero`);
  return ms;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', rest || (!h && !m) ? `${rest}s` : ''].join('');
}

function checkEnv(env: unknown): Record<string, string> | null {
  if (env === null || env === undefined) return null;
  if (typeof env !== 'object' || Array.isArray(env)) throw new InvalidInputError('env must be an object of string values');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InvalidInputError(`env: "${key}" is not a valid variable name`);
    if (typeof value !== 'string') throw new InvalidInputError(`env: the value of ${key} must be a string`);
    out[key] = value;
  }
  return out;
}

/**
 * Check everything about an input that does not depend on where it runs: done before routing,
 * before money, so an invalid specification is INVALID_INPUT whatever the caller's balance.
 * Returns the time allocation in milliseconds (null when none is asked).
 */
export function checkSpecificationInput(input: JobSpecificationInput): { replicas: number; timeAllocationMs: number | null } {
  const replicas = input.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) throw new InvalidInputError('replicas must be 1 or more');
  const timeAllocationMs = input.timeAllocation ? durationInputToMs(input.timeAllocation, 'timeAllocation') : null;
  const command = input.command ?? null;
  if (command !== null && (command.length === 0 || command.length > MAX_ARGS || command[0] === '')) {
    throw new InvalidInputError(`command must be a program and its arguments (1 to ${MAX_ARGS} items, the first not empty)`);
  }
  if (command === null && !input.application) throw new InvalidInputError('give a command or an application');
  const tags = input.tags ?? [];
  if (tags.length > MAX_TAGS) throw new InvalidInputError(`at most ${MAX_TAGS} tags`);
  if (input.name && input.name.length > 200) throw new InvalidInputError('name must be at most 200 characters');
  if (input.project !== null && input.project !== undefined && (input.project.length === 0 || input.project.length > 64)) {
    throw new InvalidInputError('project must be 1 to 64 characters');
  }
  checkText({
    name: input.name,
    project: input.project,
    description: input.description,
    ...Object.fromEntries(tags.map((tag, i) => [`tags[${i}]`, tag])),
  });
  if (input.scheduleTimeout !== null && input.scheduleTimeout !== undefined && input.scheduleTimeout < 0) {
    throw new InvalidInputError('scheduleTimeout must not be negative');
  }
  checkEnv(input.env);
  return { replicas, timeAllocationMs };
}

/** Names a user gives must be valid Unicode: a lone surrogate is no text anyone typed, and breaks keys and encoders downstream. */
function checkText(fields: Record<string, string | null | undefined>): void {
  for (const [field, text] of Object.entries(fields)) {
    // With the u flag a valid surrogate pair is one code point: \p{Cs} matches only a lone half.
    if (text && /\p{Cs}/u.test(text)) throw new InvalidInputError(`${field} must be valid Unicode text`);
  }
}

/** Why a product's support refuses an input: the error to raise, and a short reason for routing. */
export interface SupportRefusal {
  error: InvalidInputError | UnsupportedError;
  /** Short, for the products routing passed over: "needs a time allocation". */
  reason: string;
}

/**
 * The first rule of the product's support manifest that the input breaks, or null when the
 * product can take it. Routing applies the same rules, so it never picks a product that refuses.
 */
export function supportRefusal(input: JobSpecificationInput, product: Product, providerId: string): SupportRefusal | null {
  const support = product.support;
  const where = `${providerId}/${product.id}`;
  const replicas = input.replicas ?? 1;
  if (replicas > support.maxReplicas) {
    return {
      error: new InvalidInputError(`replicas: ${where} runs at most ${support.maxReplicas} replicas, ${replicas} asked`),
      reason: `at most ${support.maxReplicas} replicas`,
    };
  }
  if (support.maxTimeAllocationMs !== null) {
    const max = formatDuration(support.maxTimeAllocationMs);
    if (!input.timeAllocation) {
      return {
        error: new InvalidInputError(`timeAllocation is required on ${where} (at most ${max})`),
        reason: `needs a time allocation of at most ${max}`,
      };
    }
    const timeAllocationMs = durationInputToMs(input.timeAllocation, 'timeAllocation');
    if (timeAllocationMs > support.maxTimeAllocationMs) {
      return {
        error: new InvalidInputError(`timeAllocation ${formatDuration(timeAllocationMs)} exceeds the maximum of ${max} on ${where}`),
        reason: `time allocation above its maximum of ${max}`,
      };
    }
  }
  if (support.backend === 'DOCKER' && !input.image) {
    return { error: new InvalidInputError(`image is required on ${where} (a container product)`), reason: 'needs an image' };
  }
  if (input.sshEnabled && !support.terminal) {
    return { error: new UnsupportedError(`${where} does not offer terminals (sshEnabled)`), reason: 'no terminals' };
  }
  return null;
}

/** Validate an input against the product it will run on; `checked` is what checkSpecificationInput answered, if it ran already. */
export function resolveSpecification(
  input: JobSpecificationInput,
  product: Product,
  providerId: string,
  checked: { replicas: number; timeAllocationMs: number | null } = checkSpecificationInput(input),
): JobSpecification {
  const { replicas, timeAllocationMs } = checked;
  const refusal = supportRefusal(input, product, providerId);
  if (refusal) throw refusal.error;
  const command = input.command ?? null;
  const tags = input.tags ?? [];
  return {
    product: { id: product.id, category: product.category, provider: providerId },
    application: input.application ?? null,
    command,
    image: input.image ?? null,
    env: checkEnv(input.env),
    workingDir: input.workingDir ?? null,
    name: input.name ?? null,
    replicas,
    allowDuplicateJob: input.allowDuplicateJob ?? false,
    parameters: input.parameters ?? null,
    resources: input.resources ?? null,
    timeAllocationMs,
    restartOnExit: input.restartOnExit ?? false,
    sshEnabled: input.sshEnabled ?? false,
    tags,
    description: input.description ?? null,
    priority: input.priority ?? null,
    scheduleTimeout: input.scheduleTimeout ?? null,
  };
}

/** Two specifications are duplicates when everything but the flag itself is the same. */
export function specificationHash(spec: JobSpecification, project: string | null): string {
  const { allowDuplicateJob: _ignored, ...rest } = spec;
  return createHash('sha256')
    .update(JSON.stringify({ project, ...rest }))
    .digest('hex')
    .slice(0, 32);
}
