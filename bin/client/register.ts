/**
 * The command line for people and scripts: `switchyard login`, `run`, `ps`,
 * `logs`, `shell`... beside the server commands (`dev`, `gateway`,
 * `provider`). Every command uses the gateway's public API only.
 */
import type { Command } from 'commander';

import { connectApi, type Api, type ConnectionOptions } from './api.js';
import { registerAccountingCommands } from './commands/accounting.js';
import { registerAuthCommands } from './commands/auth.js';
import { registerCatalogCommands } from './commands/catalog.js';
import { registerCompletionCommand } from './commands/completion.js';
import { registerJobCommands } from './commands/jobs.js';
import { registerOverviewCommands } from './commands/overview.js';
import { registerShellCommand } from './commands/shell.js';
import { createOutput, type Output } from './output.js';

export interface CommandScope {
  out: Output;
  connection: ConnectionOptions;
  /** The API, connected on first use (commands that need no token never ask for one). */
  api(): Api;
}
export type CommandContext = (command: Command) => CommandScope;

interface GlobalOptions {
  url?: string;
  token?: string;
  project?: string;
  json?: boolean;
  quiet?: boolean;
}

/** Adds the client commands and their global options to the program; `opened` collects the APIs to close at the end. */
export function registerClientCommands(program: Command, opened: Api[]): void {
  program
    .option('--url <url>', 'the gateway (default: $SWITCHYARD_URL, the saved login, http://127.0.0.1:8080)')
    .option('--token <token>', 'an API token (default: $SWITCHYARD_TOKEN, the saved login)')
    .option('--project <project>', "act in this project's workspace (default: $SWITCHYARD_PROJECT; your own)")
    .option('--json', "print the API's data as JSON, for scripts")
    .option('-q, --quiet', 'print ids only (or nothing)');
  const context: CommandContext = (command) => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const connection = { url: globals.url, token: globals.token, project: globals.project };
    let api: Api | null = null;
    return {
      out: createOutput({ json: globals.json, quiet: globals.quiet }),
      connection,
      api() {
        if (!api) opened.push((api = connectApi(connection)));
        return api;
      },
    };
  };
  registerAuthCommands(program, context);
  registerCatalogCommands(program, context);
  registerJobCommands(program, context);
  registerShellCommand(program, context);
  registerAccountingCommands(program, context);
  registerOverviewCommands(program, context);
  registerCompletionCommand(program);
}
