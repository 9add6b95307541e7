/**
 * The job book's options a driver may need beyond the common record, and the
 * subschema helper answering as its lookups do. No servers.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import {
  createJobBook,
  defineProviderSubschema,
  InvalidStateError,
  jobRecordBaseSchema,
  requireNotEnded,
  type DriverContext,
  type DriverJobChange,
  type JobRecordBase,
} from './index.js';

interface Record extends JobRecordBase {
  backendId: string | null;
  usage: number;
  parts: number;
}
const schema = jobRecordBaseSchema.extend({ backendId: z.string().nullable(), usage: z.number(), parts: z.number() });
const fresh = (id: string): { record: Record } => ({
  record: { id, state: 'IN_QUEUE', status: null, exitCode: null, startedAt: null, expiresAt: null, backendId: null, usage: 0, parts: 0 },
});

function context(emitted: Array<[string, DriverJobChange]> = []): DriverContext {
  return { providerId: 'p', clock: systemClock, logger: silentLogger(), emit: (id, change) => emitted.push([id, change]), log: () => undefined };
}

describe('the job book', () => {
  it('writes the driver’s own fields of a change with `apply`, and answers the backend id the driver names', async () => {
    const emitted: Array<[string, DriverJobChange]> = [];
    const ctx = context(emitted);
    const jobs = createJobBook<Record>({
      context: () => ctx,
      providerGeneratedId: (entry) => entry.record.backendId,
      apply: (record, update) => {
        if (update.usageUnits !== undefined) record.usage = update.usageUnits;
      },
    });
    const entry = fresh('a');
    const created = await jobs.create('a', async () => {
      entry.record.backendId = 'b-1';
      return entry;
    });
    expect(created).toEqual({ providerGeneratedId: 'b-1' });
    jobs.change(entry, { state: 'RUNNING', usageUnits: 3 });
    expect(entry.record).toMatchObject({ state: 'RUNNING', usage: 3 });
    expect(emitted).toEqual([['a', { state: 'RUNNING', usageUnits: 3 }]]);
    expect(jobs.observe('a')).toMatchObject({ state: 'RUNNING', providerGeneratedId: 'b-1' });
  });

  it('keeps the entry of a launch that threw after it left something at the backend, as `leftNothing` says', async () => {
    const ctx = context();
    const jobs = createJobBook<Record>({ context: () => ctx, leftNothing: (entry) => entry.record.parts === 0 });
    const failing = (parts: number) => async () => {
      const entry = fresh(`j${parts}`);
      entry.record.parts = parts;
      jobs.set(entry);
      throw new Error('launch failed');
    };
    await expect(jobs.create('j0', failing(0))).rejects.toThrow('launch failed');
    await expect(jobs.create('j2', failing(2))).rejects.toThrow('launch failed');
    expect(jobs.get('j0')).toBeUndefined();
    expect(jobs.get('j2')?.record.parts).toBe(2);
  });

  it('lets a caller wait for a create under way, whatever its outcome', async () => {
    const ctx = context();
    const jobs = createJobBook<Record>({ context: () => ctx });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const creating = jobs.create('a', async () => {
      await gate;
      throw new Error('refused');
    });
    let settled = false;
    const waiting = jobs.createSettled('a').then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settled).toBe(false);
    release();
    await expect(creating).rejects.toThrow('refused');
    await waiting;
    expect(settled).toBe(true);
  });

  it('reads one saved record back, tells a missing one from one that does not read, and discards one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-job-book-'));
    try {
      const ctx = context();
      const jobs = createJobBook<Record>({ context: () => ctx, files: { dir: () => dir, schema } });
      const entry = fresh('a');
      await jobs.save(entry);
      expect(await jobs.readSaved('a')).toEqual({ record: entry.record });
      expect(await jobs.readSaved('none')).toBeNull();
      jobs.set(entry);
      await jobs.discard('a');
      expect(jobs.get('a')).toBeUndefined();
      expect(readdirSync(dir)).toEqual([]);
      const inMemory = createJobBook<Record>({ context: () => ctx });
      expect(await inMemory.readSaved('a')).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to act on a job that ended, with INVALID_STATE', () => {
    expect(() => requireNotEnded({ ...fresh('a').record, state: 'RUNNING' })).not.toThrow();
    expect(() => requireNotEnded({ ...fresh('a').record, state: 'SUCCESS' })).toThrow(
      new InvalidStateError('a', 'Job a has already ended (SUCCESS)'),
    );
  });
});

describe('the subschema helper', () => {
  const lookups = (resolve: (id: string) => unknown) =>
    defineProviderSubschema(
      {
        kind: 'LOCAL',
        typeDefs: 'type HelloDetails { n: Int }',
        job: { name: 'hello', type: 'HelloDetails', description: 'x', resolve: resolve as never },
      },
      () => null,
    ).resolvers as { Query: { _localJobs: (root: unknown, args: { ids: string[] }) => unknown } };

  it('answers at once when the lookups do, and with a promise when one of them is asynchronous', async () => {
    const sync = lookups((id) => (id === 'a' ? { n: 1 } : null)).Query._localJobs(null, { ids: ['a', 'b'] });
    expect(sync).toEqual([{ id: 'a', hello: { n: 1 } }, null]);
    const async = lookups(async (id) => (id === 'a' ? { n: 2 } : null)).Query._localJobs(null, { ids: ['a', 'b'] });
    expect(async).toBeInstanceOf(Promise);
    expect(await async).toEqual([{ id: 'a', hello: { n: 2 } }, null]);
  });
});
