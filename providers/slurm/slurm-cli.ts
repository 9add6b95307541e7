/**
 * Slurm's command-line tools as the Slurm provider uses them: every command
 * runs with SLURM_CONF in its environment and a bounded time, in a process
 * group of its own so that a hanging command is killed with everything it
 * started; a command that fails or hangs becomes a SlurmCommandError
 * (PROVIDER_UNAVAILABLE) that names it. The parsers read the `-O`/`-o`/`-P`
 * and `key=value` formats of Slurm 22.05 (squeue, sinfo, sacct, scontrol) and
 * never throw: what they do not understand is returned as such.
 */
import { must, SwitchyardError } from '../sdk/index.js';
import { runCommand, type CommandOutcome, type CommandRequest } from './run-command.js';

export interface SlurmCliOptions {
  /** Path of slurm.conf, put in every command's environment as SLURM_CONF. @default env.SLURM_CONF */
  slurmConf?: string;
  /** The environment the commands run in (PATH decides which sbatch runs). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** How long one command may take before it is killed. @default 10000 */
  timeoutMs?: number;
  /** Largest output one command may print before it is stopped. @default 64 MiB */
  maxOutputBytes?: number;
}

export interface SlurmRunOptions {
  /** Overrides the CLI's timeout for this command. */
  timeoutMs?: number;
  /** Aborts the command (kills it) early, e.g. when the provider stops. */
  signal?: AbortSignal;
}

export interface SlurmCommandResult {
  stdout: string;
  stderr: string;
}

export interface SlurmCli {
  /** Run one Slurm command; resolves with its output when it exits 0. */
  run(command: string, args: readonly string[], options?: SlurmRunOptions): Promise<SlurmCommandResult>;
  /** The environment every command gets (with SLURM_CONF). */
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
}

/** A Slurm command that could not be run, failed or did not answer in time. */
export class SlurmCommandError extends SwitchyardError {
  constructor(
    /** The command line, shortened for messages. */
    readonly command: string,
    readonly detail: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super('PROVIDER_UNAVAILABLE', `Slurm command \`${command}\` ${detail}`, options);
    this.name = 'SlurmCommandError';
  }
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The first lines of a command's error output, for a message. */
export function firstLines(text: string, lines = 3): string {
  return shorten(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .slice(0, lines)
      .join(' / '),
    400,
  );
}

/** Runs one command to its end (in this process, or in the command runner process). */
export type CommandRun = (request: CommandRequest, signal?: AbortSignal) => Promise<CommandOutcome>;

/** A command's outcome as its output, or as the SlurmCommandError that says what went wrong. */
export function commandResult(
  command: string,
  args: readonly string[],
  outcome: CommandOutcome,
  limits: { timeoutMs: number; maxOutputBytes: number },
): SlurmCommandResult {
  const display = shorten([command, ...args].join(' '), 200);
  switch (outcome.kind) {
    case 'not-run':
      throw new SlurmCommandError(display, 'was not run: the provider is stopping', null, '', false);
    case 'aborted':
      throw new SlurmCommandError(display, 'was stopped: the provider is stopping', null, outcome.stderr, false);
    case 'timed-out':
      throw new SlurmCommandError(display, `did not answer within ${limits.timeoutMs} ms and was killed`, null, outcome.stderr, true);
    case 'too-much-output':
      throw new SlurmCommandError(display, `printed more than ${limits.maxOutputBytes} bytes and was stopped`, null, '', false);
    case 'spawn-failed': {
      const detail =
        outcome.code === 'ENOENT'
          ? `could not be run: ${command} is not installed or not on PATH (is this host a Slurm submit host?)`
          : `could not be run: ${outcome.message}`;
      throw new SlurmCommandError(display, detail, null, '', false, {
        cause: Object.assign(new Error(outcome.message), outcome.code ? { code: outcome.code } : {}),
      });
    }
    case 'exited': {
      if (outcome.code === 0) return { stdout: outcome.stdout, stderr: outcome.stderr };
      const how = outcome.code !== null ? `failed with exit code ${outcome.code}` : `was killed by ${outcome.signal}`;
      const why = firstLines(outcome.stderr) || firstLines(outcome.stdout);
      throw new SlurmCommandError(display, why ? `${how}: ${why}` : how, outcome.code, outcome.stderr, false);
    }
  }
}

/** Slurm's commands with SLURM_CONF, a bounded time and bounded output; run by `runner` (in this process unless told otherwise). */
export function createSlurmCli(options: SlurmCliOptions = {}, runner: CommandRun = runCommand): SlurmCli {
  const baseEnv = options.env ?? process.env;
  const slurmConf = options.slurmConf ?? baseEnv.SLURM_CONF;
  const env: NodeJS.ProcessEnv = { ...baseEnv, ...(slurmConf ? { SLURM_CONF: slurmConf } : {}) };
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxOutputBytes = options.maxOutputBytes ?? 64 * 1024 * 1024;

  const run = async (command: string, args: readonly string[], runOptions: SlurmRunOptions = {}): Promise<SlurmCommandResult> => {
    const limit = runOptions.timeoutMs ?? timeoutMs;
    const outcome = await runner({ command, args, env, timeoutMs: limit, maxOutputBytes }, runOptions.signal);
    return commandResult(command, args, outcome, { timeoutMs: limit, maxOutputBytes });
  };

  return { run, env, timeoutMs };
}

// --- values -----------------------------------------------------------------

/**
 * Seconds in a Slurm duration: "5" (minutes), "MM:SS", "HH:MM:SS", "D-HH",
 * "D-HH:MM", "D-HH:MM:SS". Infinity for UNLIMITED/INFINITE; null when it is
 * not a duration (N/A, NOT_SET, INVALID, garbage).
 */
export function parseSlurmDuration(text: string): number | null {
  const value = text.trim();
  if (/^(UNLIMITED|INFINITE|Partition_Limit)$/i.test(value)) return Number.POSITIVE_INFINITY;
  const match = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(value);
  if (!match) return null;
  const [, days, a, b, c] = match;
  const n = (s: string | undefined) => (s === undefined ? 0 : Number(s));
  let seconds: number;
  if (days !== undefined) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    seconds = n(days) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c);
  } else if (c !== undefined) {
    seconds = n(a) * 3600 + n(b) * 60 + n(c);
  } else if (b !== undefined) {
    seconds = n(a) * 60 + n(b);
  } else {
    seconds = n(a) * 60;
  }
  return Number.isFinite(seconds) ? seconds : null;
}

/** A time limit as Slurm prints it ("1-00:00:00", "01:00:00"), UNLIMITED for Infinity; null for none. */
export function formatSlurmDuration(seconds: number | null): string | null {
  if (seconds === null) return null;
  if (!Number.isFinite(seconds)) return 'UNLIMITED';
  const days = Math.floor(seconds / 86_400);
  const rest = seconds % 86_400;
  const hh = String(Math.floor(rest / 3600)).padStart(2, '0');
  const mm = String(Math.floor((rest % 3600) / 60)).padStart(2, '0');
  const ss = String(rest % 60).padStart(2, '0');
  return `${days > 0 ? `${days}-` : ''}${hh}:${mm}:${ss}`;
}

/** Epoch ms of a Slurm timestamp ("2026-01-31T12:00:00", the client's local time); null for N/A, Unknown, None. */
export function parseSlurmTime(text: string): number | null {
  const value = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(value)) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** "3:0" → exit code 3, signal 0; null when it is not one. */
export function parseSlurmExitCode(text: string): { exitCode: number; signal: number } | null {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  return match ? { exitCode: Number(match[1]), signal: Number(match[2]) } : null;
}

/** squeue's exit_code is a raw wait status (exit 3 → 768); in Slurm's "exit:signal" form. */
export function waitStatusToSlurmExitCode(status: number): string {
  return `${(status >> 8) & 0xff}:${status & 0x7f}`;
}

/** A job's exit code as Switchyard reports it: the process's, or 128 + signal when a signal ended it. */
export function switchyardExitCode(code: { exitCode: number; signal: number }): number {
  return code.signal !== 0 && code.exitCode === 0 ? 128 + code.signal : code.exitCode;
}

/** `key=value key=value` (scontrol show -o); a value runs to the next ` key=`. */
export function parseKeyValueLine(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pattern = /(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=/g;
  const keys: Array<{ key: string; start: number; valueStart: number }> = [];
  for (let match = pattern.exec(line); match; match = pattern.exec(line)) {
    keys.push({ key: match[1]!, start: match.index, valueStart: match.index + match[0].length });
  }
  keys.forEach((entry, k) => {
    const end = keys[k + 1]?.start ?? line.length;
    out[entry.key] = line.slice(entry.valueStart, end).trim();
  });
  return out;
}

// --- squeue -----------------------------------------------------------------

/** The squeue fields read, in order; `-O "JobID:|,Name:|,…"` prints them unpadded, each followed by "|". */
export const SQUEUE_FIELDS = [
  // `<array id>_<task>` for an array task (pending ones with `squeue -r`), the job id for any other job.
  'JobArrayID',
  'Name',
  'State',
  'Reason',
  'TimeUsed',
  'TimeLimit',
  'StartTime',
  'EndTime',
  'Partition',
  'NodeList',
  'exit_code',
  'NumTasks',
  'NumCPUs',
  'Command',
  'Comment',
  // The job's own numeric id: an array task's once it runs (a pending one shows its array's).
  'JobID',
] as const;

export const SQUEUE_FORMAT = SQUEUE_FIELDS.map((field) => `${field}:|`).join(',');

export interface SqueueJob {
  /** The id Switchyard knows the job by: `<array id>_<task>` for an array task. */
  slurmJobId: string;
  /** Slurm's numeric id of the job (srun --jobid and sacct take only this); for a pending array task, its array's. */
  rawJobId: string;
  name: string;
  /** Slurm's long state: PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
  state: string;
  reason: string;
  /** Run time so far in seconds, suspended time excluded; null if not given. */
  elapsedSeconds: number | null;
  /** Seconds; Infinity for UNLIMITED; null if not given. */
  timeLimitSeconds: number | null;
  startTime: number | null;
  endTime: number | null;
  partition: string;
  nodeList: string | null;
  /** "exit:signal", decoded from the raw wait status squeue prints. */
  exitCode: string | null;
  tasks: number | null;
  cpus: number | null;
  command: string | null;
  comment: string | null;
}

export interface SqueueLine {
  /** The first field, even when the rest did not parse: which job the line is about. */
  slurmJobId: string;
  job: SqueueJob | null;
  /** Why the line was not understood. */
  problem: string | null;
  raw: string;
}

const nullable = (text: string) => (text === '' || text === '(null)' || text === 'N/A' || text === 'None' ? null : text);

function parseCount(text: string): number | null {
  return /^\d+$/.test(text) ? Number(text) : null;
}

/** Parse `squeue -h -O SQUEUE_FORMAT` output: one SqueueLine per non-empty line. */
export function parseSqueue(stdout: string): SqueueLine[] {
  const lines: SqueueLine[] = [];
  for (const raw of stdout.split('\n')) {
    if (raw.trim() === '') continue;
    const fields = raw.split('|');
    // split always answers at least one part.
    const slurmJobId = fields[0]!.trim();
    // Every field ends with "|": n fields give n + 1 parts, the last empty.
    if (fields.length !== SQUEUE_FIELDS.length + 1 || fields[SQUEUE_FIELDS.length]!.trim() !== '') {
      lines.push({ slurmJobId, job: null, problem: `expected ${SQUEUE_FIELDS.length} fields, got ${fields.length - 1}`, raw });
      continue;
    }
    // The length check above guarantees every field: the defaults never apply.
    const [
      id = '',
      name = '',
      state = '',
      reason = '',
      used = '',
      limit = '',
      start = '',
      end = '',
      partition = '',
      nodes = '',
      exit = '',
      tasks = '',
      cpus = '',
      command = '',
      comment = '',
      rawId = '',
    ] = fields.map((f) => f.trim());
    const problems: string[] = [];
    if (!/^\d+(_\d+)?$/.test(id)) problems.push(`job id "${id}"`);
    if (!/^\d+$/.test(rawId)) problems.push(`raw job id "${rawId}"`);
    if (!/^[A-Z_]+$/.test(state)) problems.push(`state "${state}"`);
    const elapsedSeconds = parseSlurmDuration(used);
    if (used !== '' && elapsedSeconds === null) problems.push(`time used "${used}"`);
    const timeLimitSeconds = parseSlurmDuration(limit);
    let exitCode: string | null = null;
    if (/^\d+$/.test(exit)) exitCode = waitStatusToSlurmExitCode(Number(exit));
    else if (exit !== '' && exit !== 'N/A') problems.push(`exit code "${exit}"`);
    if (problems.length > 0) {
      lines.push({ slurmJobId: id, job: null, problem: `could not read ${problems.join(', ')}`, raw });
      continue;
    }
    lines.push({
      slurmJobId: id,
      job: {
        slurmJobId: id,
        rawJobId: rawId,
        name,
        state,
        reason,
        elapsedSeconds,
        timeLimitSeconds,
        startTime: parseSlurmTime(start),
        endTime: parseSlurmTime(end),
        partition,
        nodeList: nullable(nodes),
        exitCode,
        tasks: parseCount(tasks),
        cpus: parseCount(cpus),
        command: nullable(command),
        comment: nullable(comment),
      },
      problem: null,
      raw,
    });
  }
  return lines;
}

// --- sacct ------------------------------------------------------------------

export const SACCT_FIELDS = ['JobIDRaw', 'JobName', 'State', 'ExitCode', 'ElapsedRaw', 'Start', 'End', 'Partition', 'NodeList'] as const;

export interface SacctJob {
  slurmJobId: string;
  name: string;
  /** The first word: "CANCELLED by 0" → CANCELLED. */
  state: string;
  exitCode: string | null;
  elapsedSeconds: number | null;
  startTime: number | null;
  endTime: number | null;
  partition: string;
  nodeList: string | null;
}

/** Parse `sacct -P -n -o SACCT_FIELDS` output; the last record of a job id wins (a requeued job has several). */
export function parseSacct(stdout: string): Map<string, SacctJob> {
  const jobs = new Map<string, SacctJob>();
  for (const raw of stdout.split('\n')) {
    if (raw.trim() === '') continue;
    const fields = raw.split('|');
    if (fields.length < SACCT_FIELDS.length) continue;
    // The length check above guarantees every field: the defaults never apply.
    const [id = '', name = '', state = '', exit = '', elapsed = '', start = '', end = '', partition = '', nodes = ''] = fields.map((f) => f.trim());
    // Steps (123.batch) belong to their job, which has its own line.
    if (!/^\d+$/.test(id)) continue;
    jobs.set(id, {
      slurmJobId: id,
      name,
      state: state.split(/\s+/)[0] ?? state,
      exitCode: parseSlurmExitCode(exit) ? exit : null,
      elapsedSeconds: /^\d+$/.test(elapsed) ? Number(elapsed) : parseSlurmDuration(elapsed),
      startTime: parseSlurmTime(start),
      endTime: parseSlurmTime(end),
      partition,
      nodeList: nullable(nodes),
    });
  }
  return jobs;
}

// --- sinfo / scontrol show partition ---------------------------------------

export const SINFO_NODE_FIELDS = ['NodeList', 'Partition', 'StateLong', 'CPUsState', 'Memory', 'AllocMem'] as const;
export const SINFO_NODE_FORMAT = SINFO_NODE_FIELDS.map((field) => `${field}:|`).join(',');

export interface SinfoNode {
  node: string;
  /** Without the "*" that marks the default partition. */
  partition: string;
  state: string;
  allocatedCpus: number;
  idleCpus: number;
  otherCpus: number;
  totalCpus: number;
  /** MB */
  memoryMb: number;
  allocatedMemoryMb: number;
}

/** Parse `sinfo -N -h -O SINFO_NODE_FORMAT`: one row per node and partition. Unreadable rows are returned in `problems`. */
export function parseSinfoNodes(stdout: string): { nodes: SinfoNode[]; problems: string[] } {
  const nodes: SinfoNode[] = [];
  const problems: string[] = [];
  for (const raw of stdout.split('\n')) {
    if (raw.trim() === '') continue;
    const fields = raw.split('|').map((f) => f.trim());
    const [node = '', partition = '', state = '', cpuCounts = '', memory = '', allocatedMemory = ''] = fields;
    const cpus = /^(\d+)\/(\d+)\/(\d+)\/(\d+)$/.exec(cpuCounts);
    if (fields.length !== SINFO_NODE_FIELDS.length + 1 || !cpus || !/^\d+$/.test(memory) || !/^\d+$/.test(allocatedMemory)) {
      problems.push(raw);
      continue;
    }
    nodes.push({
      node,
      partition: partition.replace(/\*$/, ''),
      state,
      allocatedCpus: Number(cpus[1]),
      idleCpus: Number(cpus[2]),
      otherCpus: Number(cpus[3]),
      totalCpus: Number(cpus[4]),
      memoryMb: Number(memory),
      allocatedMemoryMb: Number(allocatedMemory),
    });
  }
  return { nodes, problems };
}

export interface SlurmPartitionInfo {
  name: string;
  /** UP, DOWN, DRAIN, INACTIVE */
  state: string;
  isDefault: boolean;
  /** Seconds; Infinity for UNLIMITED; null when not set. */
  maxTimeSeconds: number | null;
  defaultTimeSeconds: number | null;
  nodes: string;
  totalCpus: number | null;
  totalNodes: number | null;
}

/** Parse `scontrol show partition -o`: one line per partition. */
export function parsePartitions(stdout: string): SlurmPartitionInfo[] {
  const partitions: SlurmPartitionInfo[] = [];
  for (const raw of stdout.split('\n')) {
    if (!raw.startsWith('PartitionName=')) continue;
    const kv = parseKeyValueLine(raw);
    partitions.push({
      name: must(kv.PartitionName, 'PartitionName'),
      state: kv.State ?? 'UNKNOWN',
      isDefault: kv.Default === 'YES',
      maxTimeSeconds: parseSlurmDuration(kv.MaxTime ?? ''),
      defaultTimeSeconds: kv.DefaultTime === 'NONE' ? null : parseSlurmDuration(kv.DefaultTime ?? ''),
      nodes: kv.Nodes ?? '',
      totalCpus: parseCount(kv.TotalCPUs ?? ''),
      totalNodes: parseCount(kv.TotalNodes ?? ''),
    });
  }
  return partitions;
}

/** Single-quote a word for bash: safe for any text without NUL. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
