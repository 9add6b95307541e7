/**
 * Loads the gateway's Lua scripts as ioredis commands. A script's file is named
 * for what it does and how many keys it takes (`change-job-26.lua`), or `-n`
 * when the caller passes the number first (`charge-n.lua`): the loader reads
 * the number from the name, so the file and its registration cannot disagree.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const SCRIPT_NAME = /-(\d+|n)\.lua$/;

/** The number of keys a script file takes by its name; undefined for `-n` (given per call). */
export function keysOfScript(file: string): number | undefined {
  const match = SCRIPT_NAME.exec(file);
  if (!match) throw new Error(`a Lua script's name ends with its number of keys or -n: ${file}`);
  return match[1] === 'n' ? undefined : Number(match[1]);
}

/**
 * Define each command from its script in `dir` (a file URL ending in "/"). ioredis sends EVAL
 * the first time on each connection and EVALSHA after.
 */
export function defineLuaCommands(redis: Redis, dir: URL, commands: Record<string, string>): void {
  for (const [name, file] of Object.entries(commands)) {
    const numberOfKeys = keysOfScript(file);
    redis.defineCommand(name, { lua: readFileSync(new URL(file, dir), 'utf8'), ...(numberOfKeys === undefined ? {} : { numberOfKeys }) });
  }
}
