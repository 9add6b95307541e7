/**
 * The provider runtime: everything that is the same for all providers. It
 * serves the driver on `<prefix>.v1.provider.<id>.>`, validates every request
 * and reply, announces the provider in the KV bucket and heartbeats, and turns
 * the driver's changes and output into durable events, published in order per
 * job and retried until stored — kept on disk meanwhile when given a directory
 * (outbox-journal.ts), so a provider killed before they were stored publishes
 * them when it starts again. A job the gateway withdraws (it moved the job
 * elsewhere after a create went unanswered) is never started here later.
 */
import { createHash, randomUUID } from 'node:crypto';
import pMap from 'p-map';
import pRetry, { AbortError } from 'p-retry';
import { type z } from 'zod';

import { systemClock, type Clock } from '../../shared/clock.js';
import type { JobLog, Manifest, ProviderKind } from '../../shared/domain.js';
import {
  InvalidStateError,
  NotFoundError,
  ProviderUnavailableError,
  SwitchyardError,
  toErrorBody,
  UnsupportedError,
  type ErrorBody,
} from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import {
  announcementSchema,
  jobEventSchema,
  logEventSchema,
  manifestResultSchema,
  PROTOCOL_VERSION,
  replySchema,
  type Announcement,
  type JobEvent,
  type LogEvent,
} from '../../shared/protocol.js';
import { PROVIDER_API, type ProviderApiVerb, type ProviderResult } from '../../shared/provider-api.js';
import { PROVIDER_VERBS, type ProviderVerb } from '../../shared/subjects.js';
import type { Closable, Transport } from '../../shared/transport.js';
import type { Driver, DriverContext, DriverJobChange, DriverLogLine } from './driver.js';
import { openOutboxJournal, type OpenLogEvent, type OutboxJournal } from './outbox-journal.js';
import { createSessionRelays } from './session-relays.js';
import { createServedSubschema, type ServedSubschema } from './subschema.js';

export interface ProviderRuntimeOptions {
  transport: Transport;
  driver: Driver;
  /** The provider id: a subject token, the key of its announcement. */
  id: string;
  kind: ProviderKind;
  /** The plugin's version, announced to the gateway. */
  version: string;
  /** The provider's public domain, if it has one. @default null */
  domain?: string | null;
  /** How often the announcement is re-put; the gateway marks a provider DOWN after a few missed beats. @default 2000 */
  heartbeatIntervalMs?: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default a silent logger */
  logger?: Logger;
  /** How many driver calls one bulk request runs at once (creates: as many as the driver asks, Driver.createConcurrency). @default 16 */
  requestConcurrency?: number;
  /** How long stop() waits for unpublished events before giving them up. @default 5000 */
  flushTimeoutMs?: number;
  /** How long log lines of one job are collected before they are published as one event. @default 50 */
  logBatchMs?: number;
  /** Lines that make a log batch full, published at once. @default 200 */
  logBatchLines?: number;
  /** Backoff of event publishing: first and longest wait between attempts. @default { minMs: 100, maxMs: 5000 } */
  publishRetry?: { minMs: number; maxMs: number };
  /**
   * Where events wait on disk until JetStream has stored them (the driver's state directory is a
   * good home), so that a provider killed meanwhile publishes them when it starts again with the
   * same directory. Without it they wait in memory only, and a kill loses them.
   * @default none
   */
  outboxDir?: string;
  /** Bytes of a session user's input the provider takes in flight (its receive window). @default 65536 */
  sessionWindowBytes?: number;
}

export interface ProviderRuntime {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when every event emitted so far (log lines included) is stored. */
  flush(): Promise<void>;
  /** New on every start(); announced so the gateway knows to reconcile after a restart. */
  readonly instanceId: string;
}

interface OutboxItem {
  subject: string;
  body: JobEvent | LogEvent;
  msgId: string;
}

interface LogBatch {
  /** Assigned when the batch opens, so its journal entries name it. */
  eventId: string;
  /** The job's event before it (see `after` in shared/protocol.ts); fixed at open, as a change flushes the batch first. */
  after: string | null;
  jobId: string;
  lines: JobLog[];
  timer: NodeJS.Timeout;
}

/** Jobs whose last event id is remembered for the next one's `after`; a forgotten job starts a new chain. */
const CHAINED_JOBS_LIMIT = 100_000;
/** Ids of jobs the gateway withdrew, remembered this many at most (the oldest are forgotten). */
const WITHDRAWN_LIMIT = 100_000;
/** Rewrite the journal after this many entries, when most of it is done with. */
const JOURNAL_REWRITE_ENTRIES = 20_000;

type Reply = { v: 1; ok: true; result: unknown } | { v: 1; ok: false; error: ErrorBody };

function issuesMessage(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(request)'}: ${issue.message}`).join('; ');
}

function digest(manifest: Manifest): string {
  return createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
}

/**
 * Create the runtime of one provider process around its driver. Nothing
 * happens until start().
 */
export function createProviderRuntime(options: ProviderRuntimeOptions): ProviderRuntime {
  const { transport, driver, id, kind, version } = options;
  const subjects = transport.subjects;
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? silentLogger()).child({ providerId: id });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 2_000;
  const concurrency = Math.max(1, options.requestConcurrency ?? 16);
  const createConcurrency = Math.max(1, driver.createConcurrency ?? concurrency);
  const flushTimeoutMs = options.flushTimeoutMs ?? 5_000;
  const logBatchMs = options.logBatchMs ?? 50;
  const logBatchLines = options.logBatchLines ?? 200;
  const retry = options.publishRetry ?? { minMs: 100, maxMs: 5_000 };
  // Validates the id now, not on the first request.
  const verbPrefix = subjects.providerCall(id, 'manifest').slice(0, -'manifest'.length);

  let instanceId = randomUUID();
  let seq = 0;
  let logSeq = 0;
  let running = false;
  let server: Closable | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let beating: Promise<void> | null = null;
  let announcement: Announcement | null = null;

  // Outbox: one queue per job, drained by one worker per job, so a job's
  // events stay in order while one job's stuck publish does not hold up others.
  const queues = new Map<string, OutboxItem[]>();
  const logBatches = new Map<string, LogBatch>();
  /** Per job, the id of the last event queued, so the gateway can apply the next one after it. */
  const lastEventOf = new Map<string, string>();
  let pending = 0;
  let drainWaiters: Array<() => void> = [];
  let publishAbort = new AbortController();
  let journal: (OutboxJournal & { adopted(): void }) | null = null;
  /** Aborted, and replaced, each time the transport is connected again. */
  let reconnects = new AbortController();
  let reconnectWatch: Closable | null = null;
  /** Creates under way here, by job id: a job withdrawn meanwhile is stopped as soon as it exists. */
  const creating = new Map<string, number>();
  /** Jobs the gateway withdrew (see jobs.terminate), with why: a later create of one is refused. */
  const withdrawn = new Map<string, string | null>();
  const withdraw = (jobId: string, reason: string | null) => {
    withdrawn.delete(jobId);
    withdrawn.set(jobId, reason);
    if (withdrawn.size > WITHDRAWN_LIMIT) withdrawn.delete(withdrawn.keys().next().value!);
  };

  const settleWaiters = () => {
    if (pending > 0 || logBatches.size > 0) return;
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const resolve of waiters) resolve();
  };

  const publishWithRetry = async (item: OutboxItem): Promise<void> => {
    let failures = 0;
    // Most publishes succeed at once: the retry machinery (timers, signals) is set up only after a failure.
    if (!publishAbort.signal.aborted) {
      try {
        await transport.publishDurable(item.subject, item.body, item.msgId);
        return;
      } catch {
        // The retries below log it if it keeps failing; a repeat of this publish is dropped by its msgId.
        failures = 1;
      }
    }
    for (;;) {
      // NATS coming back ends the backoff: everything waiting goes at once, not up to a backoff later.
      const reconnected = reconnects.signal;
      try {
        await publishOnce(item, AbortSignal.any([publishAbort.signal, reconnected]), (attempts) => (failures += attempts > 0 ? 1 : 0));
        break;
      } catch (error) {
        if (publishAbort.signal.aborted || !reconnected.aborted) throw error;
      }
    }
    if (failures > 0) logger.info({ msgId: item.msgId, attempts: failures + 1 }, 'event published after retries');
  };

  const publishOnce = (item: OutboxItem, signal: AbortSignal, failed: (attempt: number) => void) =>
    pRetry(
      async () => {
        try {
          await transport.publishDurable(item.subject, item.body, item.msgId);
        } catch (error) {
          // p-retry gives up on TypeErrors; any publish failure is worth another try.
          if (error instanceof TypeError) throw new Error(error.message, { cause: error });
          throw error;
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: retry.minMs,
        maxTimeout: retry.maxMs,
        factor: 2,
        randomize: true,
        // unref: a publish waiting for NATS to come back must not keep the process alive.
        unref: true,
        signal,
        onFailedAttempt: ({ error, attemptNumber }) => {
          failed(attemptNumber);
          // One line when a publish starts failing, then one per 20 attempts: no spam while NATS is away.
          if (attemptNumber === 1 || attemptNumber % 20 === 0) {
            logger.warn({ err: error, msgId: item.msgId, subject: item.subject, attempts: attemptNumber }, 'publishing an event failed; retrying');
          }
        },
      },
    );

  const drain = async (jobId: string, queue: OutboxItem[]) => {
    for (;;) {
      const [item] = queue;
      if (!item) break;
      try {
        await publishWithRetry(item);
      } catch (error) {
        // Only an abort from stop() ends the retries; what is left is given up.
        logger.error({ err: error, jobId, dropped: queue.length }, 'events not published before shutdown');
        pending -= queue.length;
        queue.length = 0;
        break;
      }
      journal?.done(item.msgId);
      queue.shift();
      pending -= 1;
      maybeRewriteJournal();
    }
    queues.delete(jobId);
    settleWaiters();
  };

  const maybeRewriteJournal = () => {
    if (!journal || journal.entries < JOURNAL_REWRITE_ENTRIES || pending * 4 > journal.entries) return;
    const open = [...logBatches.values()].map((batch): OpenLogEvent => ({
      subject: subjects.jobLog(id, batch.jobId),
      msgId: batch.eventId,
      body: { v: PROTOCOL_VERSION, eventId: batch.eventId, jobId: batch.jobId, providerId: id, after: batch.after },
      lines: batch.lines,
    }));
    try {
      journal.rewrite([...queues.values()].flat(), open);
    } catch (error) {
      logger.warn({ err: error }, 'could not rewrite the outbox journal; it keeps growing');
    }
  };

  const enqueue = (jobId: string, item: OutboxItem) => {
    // On disk before it waits: a kill from here on leaves it to the next start.
    journal?.event(item);
    lastEventOf.delete(jobId);
    lastEventOf.set(jobId, item.msgId);
    if (lastEventOf.size > CHAINED_JOBS_LIMIT) lastEventOf.delete(lastEventOf.keys().next().value!);
    pending += 1;
    const queue = queues.get(jobId);
    if (queue) {
      queue.push(item);
      return;
    }
    const fresh = [item];
    queues.set(jobId, fresh);
    void drain(jobId, fresh);
  };

  const flushLogs = (jobId: string) => {
    const batch = logBatches.get(jobId);
    if (!batch) return;
    clearTimeout(batch.timer);
    logBatches.delete(jobId);
    const event: LogEvent = { v: PROTOCOL_VERSION, eventId: batch.eventId, jobId, providerId: id, lines: batch.lines, after: batch.after };
    const parsed = logEventSchema.safeParse(event);
    if (!parsed.success) {
      journal?.done(batch.eventId);
      logger.error({ jobId, issues: issuesMessage(parsed.error) }, 'driver produced an invalid log event; dropped');
    } else {
      enqueue(jobId, { subject: subjects.jobLog(id, jobId), body: parsed.data, msgId: event.eventId });
    }
    settleWaiters();
  };

  const emit = (jobId: string, change: DriverJobChange) => {
    // Output written before a change is published before it.
    flushLogs(jobId);
    const event: JobEvent = {
      v: PROTOCOL_VERSION,
      eventId: `${instanceId}:${++seq}`,
      jobId,
      providerId: id,
      state: change.state ?? null,
      status: change.status ?? null,
      exitCode: change.exitCode ?? null,
      startedAt: change.startedAt ?? null,
      expiresAt: change.expiresAt ?? null,
      newTimeAllocation: null,
      providerGeneratedId: change.providerGeneratedId ?? null,
      usageUnits: change.usageUnits ?? null,
      timestamp: clock.now(),
      after: lastEventOf.get(jobId) ?? null,
    };
    const parsed = jobEventSchema.safeParse(event);
    if (!parsed.success) {
      logger.error({ jobId, issues: issuesMessage(parsed.error) }, 'driver produced an invalid job event; dropped');
      return;
    }
    enqueue(jobId, { subject: subjects.jobEvent(id, jobId), body: parsed.data, msgId: event.eventId });
  };

  const log = (jobId: string, line: DriverLogLine) => {
    const entry: JobLog = { rank: line.rank, stdout: line.stdout ?? null, stderr: line.stderr ?? null, timestamp: line.timestamp ?? clock.now() };
    let batch = logBatches.get(jobId);
    if (!batch) {
      const timer = setTimeout(() => flushLogs(jobId), logBatchMs);
      timer.unref();
      batch = { eventId: `${instanceId}:log:${++logSeq}`, after: lastEventOf.get(jobId) ?? null, jobId, lines: [], timer };
      logBatches.set(jobId, batch);
      journal?.open({
        subject: subjects.jobLog(id, jobId),
        msgId: batch.eventId,
        body: { v: PROTOCOL_VERSION, eventId: batch.eventId, jobId, providerId: id, after: batch.after },
      });
    }
    // Journaled as it comes: the driver saves a job's end only after its output, so the lines are on disk first.
    journal?.line(batch.eventId, entry);
    batch.lines.push(entry);
    if (batch.lines.length >= logBatchLines) flushLogs(jobId);
  };

  const flush = async (): Promise<void> => {
    for (const jobId of [...logBatches.keys()]) flushLogs(jobId);
    if (pending === 0) return;
    await new Promise<void>((resolve) => drainWaiters.push(resolve));
  };

  const context: DriverContext = {
    providerId: id,
    clock,
    logger,
    emit,
    log,
  };

  // --- requests -------------------------------------------------------------

  const sessions = createSessionRelays({ transport, providerId: id, driver, logger, window: options.sessionWindowBytes ?? 64 * 1024 });

  /** A driver refusal becomes that item's error; anything else is logged and masked. */
  const itemError = (error: unknown, verb: string, jobId: string): ErrorBody => {
    if (!(error instanceof SwitchyardError)) logger.error({ err: error, verb, jobId }, 'driver failed');
    return toErrorBody(error);
  };

  const bulk = async (ids: readonly string[], verb: string, fn: (jobId: string) => Promise<void>) => ({
    results: await pMap(
      ids,
      async (jobId) => {
        try {
          await fn(jobId);
          return { ok: true, error: null };
        } catch (error) {
          return { ok: false, error: itemError(error, verb, jobId) };
        }
      },
      { concurrency },
    ),
  });

  interface Handler {
    request: z.ZodType;
    result: z.ZodType;
    run(body: never): Promise<unknown>;
  }
  /** A verb's handler, validated on the way in and out with the schemas of the provider API table. */
  const handler = <V extends ProviderApiVerb>(
    verb: V,
    run: (body: z.infer<(typeof PROVIDER_API)[V]['request']>) => Promise<ProviderResult<V>>,
  ): Handler => ({
    request: PROVIDER_API[verb].request,
    result: PROVIDER_API[verb].result,
    run: run as (body: never) => Promise<unknown>,
  });

  const observe = async ({ ids }: { ids: string[] }) => ({ jobs: await pMap(ids, (jobId) => driver.observe(jobId), { concurrency }) });

  const handlers: Partial<Record<ProviderVerb, Handler>> = {
    manifest: handler('manifest', () => driver.manifest()),
    utilization: handler('utilization', () => driver.utilization()),
    'jobs.create': handler('jobs.create', async ({ jobs }) => {
      // Under way from the moment the request arrives, for a withdrawal that overtakes it.
      for (const job of jobs) creating.set(job.id, (creating.get(job.id) ?? 0) + 1);
      try {
        return {
          results: await pMap(
            jobs,
            async (job) => {
              if (withdrawn.has(job.id)) {
                return {
                  ok: false,
                  error: { code: 'INVALID_STATE' as const, message: `Job ${job.id} was withdrawn by the gateway; ${id} does not take it any more` },
                  providerGeneratedId: null,
                };
              }
              try {
                const { providerGeneratedId } = await driver.create(job);
                // Withdrawn while it was being created (the gateway gave up waiting): stop it at once.
                if (withdrawn.has(job.id)) {
                  await driver
                    .terminate(job.id, withdrawn.get(job.id) ?? undefined)
                    .catch((error: unknown) => logger.warn({ err: error, jobId: job.id }, 'could not stop a withdrawn job'));
                }
                return { ok: true, error: null, providerGeneratedId };
              } catch (error) {
                return { ok: false, error: itemError(error, 'jobs.create', job.id), providerGeneratedId: null };
              }
            },
            { concurrency: createConcurrency },
          ),
        };
      } finally {
        for (const job of jobs) {
          const left = (creating.get(job.id) ?? 1) - 1;
          if (left > 0) creating.set(job.id, left);
          else creating.delete(job.id);
        }
      }
    }),
    'jobs.terminate': handler('jobs.terminate', ({ ids, reason }) =>
      bulk(ids, 'jobs.terminate', async (jobId) => {
        // A job not here (yet) is withdrawn: a create of it that is under way or still on its way
        // never leaves it running, so the gateway may send it elsewhere.
        if (creating.has(jobId)) return withdraw(jobId, reason ?? null);
        try {
          await driver.terminate(jobId, reason ?? undefined);
        } catch (error) {
          if (error instanceof SwitchyardError && error.code === 'NOT_FOUND') withdraw(jobId, reason ?? null);
          throw error;
        }
      }),
    ),
    'jobs.suspend': handler('jobs.suspend', ({ ids }) => bulk(ids, 'jobs.suspend', (jobId) => driver.suspend(jobId))),
    'jobs.unsuspend': handler('jobs.unsuspend', ({ ids }) => bulk(ids, 'jobs.unsuspend', (jobId) => driver.unsuspend(jobId))),
    'jobs.extend': handler('jobs.extend', async ({ items }) => ({
      results: await pMap(
        items,
        async (item) => {
          try {
            const { expiresAt } = await driver.extend(item.id, item.addMs);
            return { ok: true, error: null, expiresAt };
          } catch (error) {
            return { ok: false, error: itemError(error, 'jobs.extend', item.id), expiresAt: null };
          }
        },
        { concurrency },
      ),
    })),
    'jobs.session': handler('jobs.session', async (request) => {
      if (!driver.openSession) throw new UnsupportedError(`Provider ${id} offers no interactive sessions`);
      const { state } = await driver.observe(request.jobId);
      if (state === null) throw new NotFoundError('job', request.jobId);
      if (state !== 'RUNNING') throw new InvalidStateError(request.jobId, `Job ${request.jobId} is ${state}: sessions open on running jobs only`);
      if (request.op === 'open') {
        if (!running) throw new ProviderUnavailableError(id, 'is stopping');
        await sessions.open(request);
      }
      return {};
    }),
    'jobs.retrieve': handler('jobs.retrieve', observe),
    'jobs.reconcile': handler('jobs.reconcile', observe),
  };
  // The subschema is built once: a broken definition stops the provider at start, not per call.
  const subschema: ServedSubschema | null = createServedSubschema(driver);
  if (subschema) {
    handlers.graphql = handler('graphql', async (request) =>
      request.op === 'sdl' ? { sdl: subschema.sdl } : subschema.execute(request.query, request.variables, request.operationName),
    );
  }

  const fail = (code: ErrorBody['code'], message: string): Reply => ({ v: PROTOCOL_VERSION, ok: false, error: { code, message } });

  const answer = async (body: unknown, subject: string): Promise<Reply> => {
    const verb = subject.startsWith(verbPrefix) ? subject.slice(verbPrefix.length) : subject;
    if (!(PROVIDER_VERBS as readonly string[]).includes(verb)) return fail('UNSUPPORTED', `Unknown verb "${verb}"`);
    const entry = handlers[verb as ProviderVerb];
    if (!entry) return fail('UNSUPPORTED', `Provider ${id} does not support ${verb}`);
    const request = entry.request.safeParse(body);
    if (!request.success) return fail('INVALID_INPUT', `Invalid ${verb} request: ${issuesMessage(request.error)}`);
    let result: unknown;
    try {
      result = await entry.run(request.data as never);
    } catch (error) {
      if (error instanceof SwitchyardError) return fail(error.code, error.message);
      logger.error({ err: error, verb }, 'request failed');
      return fail('INTERNAL', 'Internal error');
    }
    const reply = replySchema(entry.result).safeParse({ v: PROTOCOL_VERSION, ok: true, result });
    if (!reply.success) {
      logger.error({ verb, issues: issuesMessage(reply.error) }, 'driver answered with an invalid result');
      return fail('INTERNAL', `Provider ${id} produced an invalid ${verb} result`);
    }
    return reply.data as Reply;
  };

  const serveRequest = async (body: unknown, subject: string): Promise<Reply> => {
    try {
      return await answer(body, subject);
    } catch (error) {
      // Never let a handler's error become a transport-level rejection with a stack.
      logger.error({ err: error, subject }, 'request handling failed');
      return fail('INTERNAL', 'Internal error');
    }
  };

  // --- announcement ---------------------------------------------------------

  const announce = async () => {
    if (!announcement) return;
    const next = announcementSchema.parse({ ...announcement, heartbeatAt: clock.now() });
    announcement = next;
    await transport.putAnnouncement(id, next);
  };

  const beat = async () => {
    if (!announcement) return;
    try {
      const manifestDigest = digest(manifestResultSchema.parse(await driver.manifest()));
      if (announcement && manifestDigest !== announcement.manifestDigest) {
        logger.info({ manifestDigest }, 'manifest changed');
        announcement = { ...announcement, manifestDigest };
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not read the manifest for the heartbeat; announcing the previous digest');
    }
    try {
      if (running) await announce();
    } catch (error) {
      logger.warn({ err: error }, 'heartbeat not stored');
    }
  };

  const scheduleBeat = () => {
    // A chain of timeouts, not an interval: a slow beat never overlaps the next.
    heartbeat = setTimeout(() => {
      beating = beat().finally(() => {
        beating = null;
        if (running) scheduleBeat();
      });
    }, heartbeatIntervalMs);
    // unref: the heartbeat alone must not keep the process alive.
    heartbeat.unref();
  };

  return {
    get instanceId() {
      return instanceId;
    },

    async start() {
      if (running) throw new Error(`provider runtime ${id} is already started`);
      instanceId = randomUUID();
      seq = 0;
      logSeq = 0;
      lastEventOf.clear();
      publishAbort = new AbortController();
      reconnectWatch =
        transport.onReconnect?.(() => {
          const previous = reconnects;
          reconnects = new AbortController();
          previous.abort();
        }) ?? null;
      if (options.outboxDir) {
        journal = openOutboxJournal(options.outboxDir, instanceId, logger);
        // What an earlier run could not publish goes first, before anything the driver says now.
        for (const item of journal.recovered) enqueue(item.body.jobId, item);
        journal.adopted();
        if (journal.recovered.length > 0) logger.info({ events: journal.recovered.length }, 'publishing events an earlier run left unpublished');
      }
      await driver.start(context);
      running = true;
      try {
        server = transport.serve(subjects.providerAll(id), serveRequest, { queue: `provider-${id}` });
        // The subscription reaches the server before the announcement tells the gateway to call.
        await transport.ping();
        const manifest = manifestResultSchema.parse(await driver.manifest());
        const now = clock.now();
        announcement = {
          v: PROTOCOL_VERSION,
          id,
          kind,
          version,
          instanceId,
          manifestDigest: digest(manifest),
          startedAt: now,
          heartbeatAt: now,
          heartbeatIntervalMs,
          domain: options.domain ?? null,
          subschemaDigest: subschema?.digest ?? null,
        };
        await announce();
      } catch (error) {
        running = false;
        announcement = null;
        await reconnectWatch?.close();
        reconnectWatch = null;
        // Kept for the next start: what it holds was not published.
        journal?.close(false);
        journal = null;
        await server?.close().catch(() => undefined);
        server = null;
        await driver.stop().catch((err: unknown) => logger.error({ err }, 'driver stop failed'));
        throw error;
      }
      scheduleBeat();
      logger.info({ instanceId, heartbeatIntervalMs }, 'provider started');
    },

    async stop() {
      if (!running) return;
      running = false;
      if (heartbeat) clearTimeout(heartbeat);
      heartbeat = null;
      announcement = null;
      // A beat under way must not put the announcement back after it is deleted.
      await beating;
      try {
        await transport.deleteAnnouncement(id);
      } catch (error) {
        logger.warn({ err: error }, 'could not delete the announcement');
      }
      await server?.close().catch((error: unknown) => logger.warn({ err: error }, 'could not stop serving'));
      server = null;
      sessions.closeAll(`provider ${id} is stopping`);

      const deadline = performance.now() + flushTimeoutMs;
      /** True when everything was stored before the deadline. */
      const flushedInTime = async (): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
        });
        const flushed = await Promise.race([flush().then(() => true as const), timedOut]);
        clearTimeout(timer);
        return flushed;
      };
      // The driver stops observing first: what it saw up to now (its last output included) is
      // flushed, and what happens from here on is the next start's to find, not this one's to half-report.
      try {
        await driver.stop();
      } catch (error) {
        logger.error({ err: error }, 'driver stop failed');
      }
      const flushed = await flushedInTime();
      if (!flushed) {
        logger.error(
          { pending, kept: journal !== null },
          journal ? 'events not published in time; the next start publishes them' : 'gave up events that could not be published in time',
        );
        publishAbort.abort(new AbortError('provider stopped'));
      }
      journal?.close(flushed);
      journal = null;
      await reconnectWatch?.close();
      reconnectWatch = null;
      logger.info({ instanceId }, 'provider stopped');
    },

    flush,
  };
}
