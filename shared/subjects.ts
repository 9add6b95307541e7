/**
 * Every NATS subject and JetStream name, built in one place. Subjects are
 * dot-separated, versioned, general to specific. The prefix (default "sy")
 * lets tests and deployments share one NATS server without seeing each other.
 */
import { InvalidInputError } from './errors.js';

export const PROVIDER_VERBS = [
  'manifest',
  'utilization',
  'jobs.create',
  'jobs.terminate',
  'jobs.extend',
  'jobs.suspend',
  'jobs.unsuspend',
  'jobs.session',
  'jobs.retrieve',
  'jobs.reconcile',
  'graphql',
] as const;
export type ProviderVerb = (typeof PROVIDER_VERBS)[number];

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Ids become subject tokens: no dots, no wildcards, no spaces. */
export function assertSubjectToken(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new InvalidInputError(`${what} "${value}" may use letters, digits, "-" and "_" only`);
  return value;
}

export interface Subjects {
  readonly prefix: string;
  providerCall(providerId: string, verb: ProviderVerb): string;
  /** Wildcard that one provider process serves all its verbs on. */
  providerAll(providerId: string): string;
  jobEvent(providerId: string, jobId: string): string;
  jobLog(providerId: string, jobId: string): string;
  /** Everything that goes into the events stream. */
  streamSubjects(): string[];
  /** Core (non-persistent) subject that gateway replicas fan follow events out on. */
  fanout(jobId: string): string;
  fanoutAll(): string;
  /** Core subjects of one interactive session's bytes: what the provider receives, and what the gateway receives. */
  sessionToProvider(providerId: string, sessionId: string): string;
  sessionToGateway(providerId: string, sessionId: string): string;
  /** JetStream stream, durable consumer and KV bucket names. */
  readonly eventStream: string;
  readonly eventConsumer: string;
  readonly providerBucket: string;
}

export function createSubjects(prefix = 'sy'): Subjects {
  assertSubjectToken(prefix, 'subject prefix');
  const root = `${prefix}.v1`;
  const upper = prefix.toUpperCase().replace(/-/g, '_');
  return {
    prefix,
    providerCall: (providerId, verb) => `${root}.provider.${assertSubjectToken(providerId, 'provider id')}.${verb}`,
    providerAll: (providerId) => `${root}.provider.${assertSubjectToken(providerId, 'provider id')}.>`,
    jobEvent: (providerId, jobId) => `${root}.events.${assertSubjectToken(providerId, 'provider id')}.${assertSubjectToken(jobId, 'job id')}`,
    jobLog: (providerId, jobId) => `${root}.logs.${assertSubjectToken(providerId, 'provider id')}.${assertSubjectToken(jobId, 'job id')}`,
    streamSubjects: () => [`${root}.events.>`, `${root}.logs.>`],
    fanout: (jobId) => `${root}.fanout.${assertSubjectToken(jobId, 'job id')}`,
    fanoutAll: () => `${root}.fanout.>`,
    sessionToProvider: (providerId, sessionId) =>
      `${root}.session.${assertSubjectToken(providerId, 'provider id')}.${assertSubjectToken(sessionId, 'session id')}.provider`,
    sessionToGateway: (providerId, sessionId) =>
      `${root}.session.${assertSubjectToken(providerId, 'provider id')}.${assertSubjectToken(sessionId, 'session id')}.gateway`,
    eventStream: `${upper}_EVENTS`,
    eventConsumer: `${upper}_GATEWAY`,
    providerBucket: `${prefix}-providers`,
  };
}
