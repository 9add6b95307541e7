/**
 * The local provider's job record, as saved in its state directory: the
 * fields every job book keeps, and the ranks' processes, cgroups and account,
 * so that a restarted provider knows which jobs ended and which lost their
 * processes. Records written by earlier versions read the same.
 */
import { z } from 'zod';

import { jobRecordBaseSchema } from '../sdk/index.js';

export const rankRecordSchema = z.object({
  rank: z.number().int().nonnegative(),
  pid: z.number().int().positive(),
  /** Equal to pid (detached: the rank leads its own group); kept apart for clarity. */
  pgid: z.number().int().positive(),
  /** /proc/<pid>/stat starttime: tells our process from a later one that reused its pid. */
  startTicks: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  /** The rank's cgroup directories, removed when it ends (or by the next start). */
  cgroups: z.array(z.string()).default([]),
  /** The kernel killed a process of the rank for exceeding its memory. */
  outOfMemory: z.boolean().default(false),
});
export type RankRecord = z.infer<typeof rankRecordSchema>;

export const localJobRecordSchema = jobRecordBaseSchema.extend({
  v: z.literal(1),
  /** The driver start that owns the processes; any other one finds them orphaned. */
  driverInstance: z.string(),
  bootId: z.string().nullable(),
  suspendedAt: z.number().nullable(),
  providerGeneratedId: z.string().nullable(),
  productId: z.string(),
  cpu: z.number(),
  memoryInGigs: z.number(),
  replicas: z.number().int().positive(),
  /** Why the processes are being stopped, which decides the final state. */
  ending: z.enum(['TERMINATE', 'EXPIRE']).nullable(),
  /** Why it was terminated, for the final status ("No more credits"). */
  endingReason: z.string().nullable().default(null),
  /** The account the ranks run as. */
  account: z.object({ uid: z.number().int(), gid: z.number().int(), name: z.string().nullable() }).nullable().default(null),
  ranks: z.array(rankRecordSchema),
});
export type LocalJobRecord = z.infer<typeof localJobRecordSchema>;
