/**
 * Following a job: its story (updates) and log lines as they come, through the
 * followJob subscription, until it reaches a final state. A reconnect replays
 * the subscription's snapshot: what was printed already is skipped.
 */
import type { Api } from './api.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

const FOLLOW = `subscription ($id: ID!) { followJob(id: $id) {
  updates { state status timestamp }
  logs { rank stdout stderr timestamp }
  newStatus { state exitCode }
} }`;

export interface FinalStatus {
  state: string;
  exitCode: number | null;
}
interface FollowEvent {
  followJob: {
    updates: { state: string | null; status: string | null; timestamp: string }[];
    logs: { rank: number; stdout: string | null; stderr: string | null; timestamp: string }[];
    newStatus: FinalStatus | null;
  };
}

const FINAL = new Set(['SUCCESS', 'FAILURE', 'EXPIRED']);

/** What a script sees as the command's exit code for a job that ended this way. */
export function exitCodeOf(status: FinalStatus): number {
  if (status.exitCode !== null) return status.exitCode;
  if (status.state === 'SUCCESS') return EXIT.ok;
  if (status.state === 'EXPIRED') return EXIT.expired;
  return EXIT.refused;
}

export interface FollowOptions {
  logs: boolean;
  updates: boolean;
  /** Prefix each log line with its rank (jobs of several replicas). */
  rankPrefix: boolean;
}

/** Prints the job's events until it ends; answers its final status. */
export async function followJob(api: Api, out: Output, id: string, options: FollowOptions): Promise<FinalStatus> {
  const seen = new Set<string>();
  let final = null as FinalStatus | null;
  await api.subscribe<FollowEvent>(FOLLOW, { id }, ({ followJob: event }) => {
    if (out.json) {
      out.line(JSON.stringify(event));
    } else {
      for (const u of event.updates) {
        const key = `u|${u.timestamp}|${u.state}|${u.status}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (options.updates && !out.quiet) out.note(out.color.dim(`» ${[u.state, u.status].filter(Boolean).join(': ')}`));
      }
      for (const l of event.logs) {
        const key = `l|${l.timestamp}|${l.rank}|${l.stdout}|${l.stderr}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (!options.logs) continue;
        const prefix = options.rankPrefix ? `[${l.rank}] ` : '';
        if (l.stdout !== null) process.stdout.write(`${prefix}${l.stdout}\n`);
        if (l.stderr !== null) process.stderr.write(`${prefix}${l.stderr}\n`);
      }
    }
    if (event.newStatus && FINAL.has(event.newStatus.state)) final = event.newStatus;
  });
  // The subscription ends with the job; one that ended otherwise (a gateway stopping) says so.
  if (!final) throw new Error(`the gateway ended the follow of ${id} before the job ended; follow it again with \`switchyard logs -f ${id}\``);
  return final;
}
