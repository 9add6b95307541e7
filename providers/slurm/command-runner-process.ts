/**
 * The command runner process (command-runner.ts starts it): runs the commands
 * its parent sends over the IPC channel and answers what became of each. It
 * exists because fork() copies the forking process's page tables: a provider
 * with hundreds of MB in memory spends milliseconds of its event loop on
 * every command, this small process very little, and on a core of its own.
 * Commands of a limited kind (sbatch) wait here for their turn, so the next
 * one starts as soon as one ends, without a round trip to the parent. It ends
 * when its parent goes; commands under way keep their own process groups, as
 * they would if the provider ran them itself.
 */
import { createConcurrencyLimit } from './concurrency-limit.js';
import { runCommand, type CommandOutcome, type CommandRequest } from './run-command.js';

/** A message from the parent. */
export type RunnerRequest = { t: 'run'; id: number; request: CommandRequest } | { t: 'abort'; id: number };
/** A message to the parent: `queued` when a command waits for its turn, `started` when it has it. */
export type RunnerAnswer =
  { t: 'ready' } | { t: 'queued'; id: number } | { t: 'started'; id: number } | { t: 'done'; id: number; outcome: CommandOutcome };

/** This runner's share of the provider's limits, by command (its first argument, as JSON). */
const limits = new Map(
  Object.entries(JSON.parse(process.argv[2] ?? '{}') as Record<string, number>).map(([command, max]) => [command, createConcurrencyLimit(max)]),
);
const running = new Map<number, AbortController>();

const answer = (message: RunnerAnswer) => {
  // The parent may have gone meanwhile: nothing to answer then.
  if (process.connected) process.send?.(message);
};

process.on('message', (message: RunnerRequest) => {
  if (message.t === 'abort') {
    running.get(message.id)?.abort();
    return;
  }
  const { id, request } = message;
  const controller = new AbortController();
  running.set(id, controller);
  let waited = false;
  const run = () => {
    if (waited) answer({ t: 'started', id });
    return runCommand(request, controller.signal);
  };
  const turn = limits.get(request.command);
  const outcome = turn
    ? turn.run(run, () => {
        waited = true;
        answer({ t: 'queued', id });
      })
    : run();
  void outcome.then((result) => {
    running.delete(id);
    answer({ t: 'done', id, outcome: result });
  });
});
// The parent stopped or died: no one is left to answer.
process.on('disconnect', () => process.exit(0));
answer({ t: 'ready' });
