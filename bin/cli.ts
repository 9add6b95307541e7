/** `switchyard dev | gateway | provider <kind> --id <id>`. */
import closeWithGrace from 'close-with-grace';
import { Command, InvalidArgumentError } from 'commander';

import { runGateway } from '../gateway/main.js';
import { PROVIDER_KINDS } from '../providers/index.js';
import { ConfigError } from '../shared/config.js';
import { startDev } from './dev.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0 to 65535');
  return n;
}

const program = new Command('switchyard').description('A federated gateway and broker across compute providers');

program
  .command('dev')
  .description('everything in one process: gateway, in-memory store, in-process bus and the local provider')
  .option('-p, --port <port>', 'HTTP port', port, Number(process.env.PORT ?? 8080))
  .option('--host <host>', 'address to listen on', process.env.HOST ?? '127.0.0.1')
  .action(async (opts: { port: number; host: string }) => {
    const dev = await startDev({ port: opts.port, host: opts.host, adminToken: process.env.SWITCHYARD_ADMIN_TOKEN });
    const url = `http://${opts.host}:${dev.address.port}`;
    process.stdout.write(
      `\nSwitchyard is running (embedded: in-memory store, in-process bus; providers local, sim-hpc and sim-cloud).\n` +
        `  GraphQL:  ${url}/graphql\n  Metrics:  ${url}/metrics\n` +
        (process.env.SWITCHYARD_ADMIN_TOKEN ? '' : `  Admin token (generated; set SWITCHYARD_ADMIN_TOKEN to choose one):\n    ${dev.adminToken}\n`) +
        '\n',
    );
    closeWithGrace({ delay: 10_000 }, async () => dev.stop());
  });

program
  .command('gateway')
  .description('a gateway replica, joined to providers over NATS and to Redis (settings from the environment)')
  .action(async () => runGateway());

program
  .command('provider')
  .description('a provider plugin process, joined to the gateway over NATS')
  .argument('<kind>', `one of: ${Object.keys(PROVIDER_KINDS).join(', ')}`)
  .requiredOption('--id <id>', 'the provider id (letters, digits, "-", "_")')
  .action(async (kind: string, opts: { id: string }) => {
    const run = PROVIDER_KINDS[kind];
    if (!run) throw new InvalidArgumentError(`unknown provider kind "${kind}"; known: ${Object.keys(PROVIDER_KINDS).join(', ')}`);
    if (!/^[A-Za-z0-9_-]+$/.test(opts.id)) throw new InvalidArgumentError('--id may use letters, digits, "-" and "_" only');
    await run(opts.id);
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(
    `switchyard: ${error instanceof ConfigError || error instanceof InvalidArgumentError ? error.message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exit(2);
});
