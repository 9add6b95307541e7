/**
 * The command runner process (command-runner.ts starts it): runs the commands
 * its parent sends over the IPC channel and answers what became of each. It
 * exists because fork() copies the forking process's page tables: a provider
 * with hundreds of MB in memory spends milliseconds of its event loop on
 * every command, this small process very little, and on a core of its own.
 * It ends when its parent goes; commands under way keep their own process
 * groups, as they would if the provider ran them itself.
 */
import { runCommand, type CommandRequest } from './run-command.js';

/** A message from the parent. */
type Request = { t: 'run'; id: number; request: CommandRequest } | { t: 'abort'; id: number };

const running = new Map<number, AbortController>();

process.on('message', (message: Request) => {
  if (message.t === 'abort') {
    running.get(message.id)?.abort();
    return;
  }
  const controller = new AbortController();
  running.set(message.id, controller);
  void runCommand(message.request, controller.signal).then((outcome) => {
    running.delete(message.id);
    // The parent may have gone meanwhile: nothing to answer then.
    if (process.connected) process.send?.({ t: 'done', id: message.id, outcome });
  });
});
// The parent stopped or died: no one is left to answer.
process.on('disconnect', () => process.exit(0));
process.send?.({ t: 'ready' });
