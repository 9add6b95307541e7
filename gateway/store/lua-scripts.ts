/**
 * Loads the gateway's Lua scripts as ioredis commands. A script's file is named
 * for what it does and how many keys it takes (`change-job-27.lua`), or `-n`
 * when the caller passes the number first (`charge-n.lua`): the loader reads
 * the number from the name, so the file and its registration cannot disagree.
 */
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

const SCRIPT_NAME = /-(\d+|n)\.lua$/;

/** The number of keys a script file takes by its name; undefined for `-n` (given per call). */
export function keysOfScript(file: string): number | undefined {
  const match = SCRIPT_NAME.exec(file);
  if (!match) throw new Error(`a Lua script's name ends with its number of keys or -n: ${file}`);
  return match[1] === 'n' ? undefined : Number(match[1]);
}

/** How long a write waits for its replicas (WAIT) before it answers anyway. */
const REPLICA_WAIT_MS = 2_000;
/**
 * A pipeline is not redirected as a lone command is (WAIT has no key to be redirected with): a
 * script refused because its slot moved (a failover) is sent again, once the client has learnt
 * the slots anew. Refused so, it did not run, so sending it again changes nothing twice.
 */
const REDIRECTED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;
const REDIRECT_RETRIES = 50;
const REDIRECT_DELAY_MS = 100;

export interface LuaCommandOptions {
  /**
   * Replicas each script's writes reach before it answers (Redis WAIT, sent with the script in one
   * pipeline, so to the same master): on a cluster, a master killed after answering then loses
   * nothing its promoted replica lacks. 0: answer at once, as on one server.
   * @default 0
   */
  waitReplicas?: number;
}

/**
 * Define each command from its script in `dir` (a file URL ending in "/"). ioredis sends EVAL
 * the first time on each connection and EVALSHA after.
 */
export function defineLuaCommands(redis: Redis | Cluster, dir: URL, commands: Record<string, string>, options: LuaCommandOptions = {}): void {
  const waitReplicas = options.waitReplicas ?? 0;
  for (const [name, file] of Object.entries(commands)) {
    const numberOfKeys = keysOfScript(file);
    const definition = { lua: readFileSync(new URL(file, dir), 'utf8'), ...(numberOfKeys === undefined ? {} : { numberOfKeys }) };
    if (waitReplicas === 0) {
      redis.defineCommand(name, definition);
      continue;
    }
    const unreplicated = `${name}Unreplicated`;
    redis.defineCommand(unreplicated, definition);
    type Call = (...args: unknown[]) => unknown;
    const once = async (args: unknown[]) => {
      const pipeline = redis.pipeline() as unknown as Record<string, Call> & ReturnType<Redis['pipeline']>;
      pipeline[unreplicated]!(...args);
      pipeline.call('WAIT', waitReplicas, REPLICA_WAIT_MS);
      const [[error, reply] = [null, null], [waitError] = [null]] = (await pipeline.exec()) ?? [];
      if (error) throw error;
      if (waitError) throw waitError;
      return reply;
    };
    (redis as unknown as Record<string, Call>)[name] = async (...args: unknown[]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(args);
        } catch (error) {
          if (!REDIRECTED.test((error as Error).message) || attempt >= REDIRECT_RETRIES || !redis.isCluster) throw error;
          await new Promise<void>((resolve) => (redis as Cluster).refreshSlotsCache(() => resolve()));
          await new Promise((resolve) => setTimeout(resolve, REDIRECT_DELAY_MS));
        }
      }
    };
  }
}
