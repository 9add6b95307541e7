/**
 * `switchyard`: the server commands (`dev`, `gateway`, `provider <kind>`) and the
 * command line for people and scripts (`login`, `run`, `ps`, `logs`, `shell`, ...:
 * bin/client). Server modules load only for server commands, so a client
 * command starts without the gateway's and providers' code.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';

import type { Api } from './client/api.js';
import { CliError, EXIT, JobEnded } from './client/exit-codes.js';
import { registerClientCommands } from './client/register.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0 to 65535');
  return n;
}

/** Set once a server command has started: the process then lives on. */
let serving = false;

const program = new Command('switchyard').description('A federated gateway and broker across compute providers').exitOverride();

program
  .command('dev')
  .description('everything in one process: gateway, in-memory store, in-process bus and the local provider')
  .option('-p, --port <port>', 'HTTP port', port, Number(process.env.PORT ?? 8080))
  .option('--host <host>', 'address to listen on', process.env.HOST ?? '127.0.0.1')
  .action(async (opts: { port: number; host: string }) => {
    const [{ startDev }, { default: closeWithGrace }, { dashboardBuilt }] = await Promise.all([
      import('./dev.js'),
      import('close-with-grace'),
      import('../gateway/pages/dashboard-files.js'),
    ]);
    const dev = await startDev({ port: opts.port, host: opts.host, adminToken: process.env.SWITCHYARD_ADMIN_TOKEN });
    serving = true;
    const url = `http://${opts.host}:${dev.address.port}`;
    process.stdout.write(
      `\nSwitchyard is running (embedded: in-memory store, in-process bus; providers local, sim-hpc and sim-cloud).\n` +
        `  Dashboard: ${url}/ui/${dashboardBuilt() ? '' : ' (not built yet: npm run build:dashboard; npm start builds it)'}\n` +
        `  GraphQL:   ${url}/graphql\n  Metrics:   ${url}/metrics\n` +
        (process.env.SWITCHYARD_ADMIN_TOKEN ? '' : `  Admin token (generated; set SWITCHYARD_ADMIN_TOKEN to choose one):\n    ${dev.adminToken}\n`) +
        `  Command line: npx switchyard login --url ${url}\n` +
        '\n',
    );
    closeWithGrace({ delay: 10_000 }, async () => dev.stop());
  });

program
  .command('gateway')
  .description('a gateway replica, joined to providers over NATS and to Redis (settings from the environment)')
  .action(async () => {
    await (await import('../gateway/main.js')).runGateway();
    serving = true;
  });

program
  .command('provider')
  .description('a provider plugin process, joined to the gateway over NATS')
  .argument('<kind>', 'local, slurm, kubernetes, cloud-vm or simulated')
  .requiredOption('--id <id>', 'the provider id (letters, digits, "-", "_")')
  .action(async (kind: string, opts: { id: string }) => {
    const { PROVIDER_KINDS } = await import('../providers/index.js');
    const run = PROVIDER_KINDS[kind];
    if (!run) throw new CliError(`unknown provider kind "${kind}"; known: ${Object.keys(PROVIDER_KINDS).join(', ')}`, EXIT.usage);
    if (!/^[A-Za-z0-9_-]+$/.test(opts.id)) throw new CliError('--id may use letters, digits, "-" and "_" only', EXIT.usage);
    await run(opts.id);
    serving = true;
  });

const opened: Api[] = [];
registerClientCommands(program, opened);

async function main(): Promise<number> {
  try {
    await program.parseAsync();
    return EXIT.ok;
  } catch (error) {
    if (error instanceof JobEnded) return error.exitCode;
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage; // commander printed it already
    if (error instanceof CliError) {
      process.stderr.write(`switchyard: ${error.message}\n`);
      return error.exitCode;
    }
    const { ConfigError } = await import('../shared/config.js');
    if (error instanceof ConfigError || error instanceof InvalidArgumentError) {
      process.stderr.write(`switchyard: ${error.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`switchyard: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.refused;
  } finally {
    await Promise.all(opened.map((api) => api.close().catch(() => undefined)));
  }
}

const code = await main();
// A server that started keeps running (its listeners hold the loop); anything else ends here with its code.
if (!serving || code !== EXIT.ok) process.exit(code);
