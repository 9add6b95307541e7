/**
 * Jobs submitted together as one Slurm job array: one `sbatch --array=0-N`
 * for N + 1 Switchyard jobs that wait for a submit slot at once and ask for
 * the same resources, one array task per job. The array's dispatch script
 * runs the task's own job's batch script (slurm-batch-script.ts) by
 * SLURM_ARRAY_TASK_ID, in that job's working directory; the array's output
 * files reach each job's own directory through a link per task
 * (`<array dir>/<task>` → `../<job id>`, and sbatch's `%a`). Each task is a
 * Slurm job of its own, `<array id>_<task>`. Pure: text in, text out.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { slurmPath } from './slurm-batch-script.js';
import { shellQuote } from './slurm-cli.js';

/** Names of the arrays this provider submits: `sya-<random>` (a job's own name is `sy-<job id>`). */
export const SLURM_ARRAY_NAME_PREFIX = 'sya-';

/** A new array's name, unique enough to find its tasks by after a restart. */
export function newArrayName(): string {
  return `${SLURM_ARRAY_NAME_PREFIX}${randomBytes(9).toString('base64url')}`;
}

/** sbatch's arguments that belong to one job, not to the resources it asks for. */
const PER_JOB_ARG = /^--(job-name|comment|chdir|output|error)=/;

/**
 * What jobs must share to go in one array: every sbatch argument but the ones of the job
 * itself (name, comment, directories) and its script (the last argument).
 */
export function arrayKey(sbatchArgs: readonly string[]): string {
  return sbatchArgs
    .slice(0, -1)
    .filter((arg) => !PER_JOB_ARG.test(arg))
    .join('\n');
}

export interface ArrayTask {
  /** The job's directory, where its batch script and output files are. */
  dir: string;
  /** The job's working directory. */
  cwd: string;
  script: string;
}

/** The dispatch script of an array: task i changes to job i's working directory and runs its batch script. */
export function arrayDispatchScript(name: string, tasks: readonly ArrayTask[]): string {
  return [
    '#!/bin/bash',
    `# Switchyard job array ${name}, submitted by the Slurm provider: array task i runs the batch script of the i-th job.`,
    'case "$SLURM_ARRAY_TASK_ID" in',
    ...tasks.map((task, index) => `  ${index}) cd -- ${shellQuote(task.cwd)} || exit 1; exec ${shellQuote(task.script)} ;;`),
    'esac',
    'echo "Switchyard: array task $SLURM_ARRAY_TASK_ID has no job" >&2',
    'exit 1',
    '',
  ].join('\n');
}

/**
 * sbatch's arguments for an array of jobs that share `common` (one job's arguments: its per-job
 * ones are replaced), its files in `arrayDir`, where a link per task leads to the task's job directory.
 */
export function arraySbatchArgs(common: readonly string[], name: string, tasks: number, arrayDir: string, script: string): string[] {
  const shared = common.slice(0, -1).filter((arg) => !PER_JOB_ARG.test(arg) && arg !== '--parsable');
  return [
    '--parsable',
    `--array=0-${tasks - 1}`,
    `--job-name=${name}`,
    `--comment=${name}`,
    ...shared,
    `--chdir=${arrayDir}`,
    // %a: the task's link, so each job's batch output lands in its own directory, as a lone job's does.
    `--output=${slurmPath(arrayDir)}/%a/batch.out`,
    `--error=${slurmPath(arrayDir)}/%a/batch.err`,
    script,
  ];
}

/** Where a task's link in the array's directory leads: its job's directory, beside the array's. */
export function taskLink(arrayDir: string, task: number): string {
  return join(arrayDir, String(task));
}

/** `<array id>_<task>`: the task's Slurm id, which squeue, scancel and scontrol take. */
export function arrayTaskId(arrayId: string, task: number): string {
  return `${arrayId}_${task}`;
}

/** `123_4` → array 123, task 4; null for an id that is not an array task's. */
export function parseArrayTaskId(id: string): { arrayId: string; task: number } | null {
  const match = /^(\d+)_(\d+)$/.exec(id.trim());
  return match ? { arrayId: match[1]!, task: Number(match[2]) } : null;
}

/** sbatch --parsable's answer: the job (or array) id, `123` or `123;cluster`; null when it is not one. */
export function parseSbatchAnswer(output: string): string | null {
  return /^(\d+)(?:;\S*)?\s*$/.exec(output.trim())?.[1] ?? null;
}
