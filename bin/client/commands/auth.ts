/** `login`, `logout`, `whoami`: a token from the gateway's /api/v1/token, or through single sign-on (sso.ts), kept in the config file. */
import type { Command } from 'commander';
import { read } from 'read';

import { connectApi, gatewayUrl, toCliError, type ConnectionOptions } from '../api.js';
import { forgetLogin, readSavedLogin, saveLogin } from '../config-file.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import type { CommandContext } from '../register.js';
import { chooseSignIn, commandLineSignIns, deviceSignIn, revokeSso } from '../sso.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function askPassword(username: string | undefined, passwordStdin: boolean): Promise<{ username: string; password: string }> {
  if (passwordStdin) {
    if (!username) throw new CliError('--password-stdin needs --username', EXIT.usage);
    return { username, password: await readStdin() };
  }
  if (!process.stdin.isTTY) throw new CliError('no terminal to ask for the password on: give --username and --password-stdin', EXIT.usage);
  const name = username ?? String(await read({ prompt: 'Username: ' }));
  return { username: name, password: String(await read({ prompt: 'Password: ', silent: true, replace: '' })) };
}

/** `login --sso`: the device flow with an issuer the gateway offers, then the gateway asked who that makes us. */
async function ssoLogin(out: Output, connection: ConnectionOptions, url: string, issuer: string | undefined): Promise<void> {
  const signIn = chooseSignIn(await commandLineSignIns(url), issuer);
  const { accessToken, sso } = await deviceSignIn(signIn, ({ uri, userCode, completeUri }) =>
    // On stderr: --json's document on stdout stays the only thing there.
    out.note(completeUri ? `Open ${completeUri} to sign in (the code is ${userCode}).` : `Open ${uri} and enter the code ${userCode}.`),
  );
  const api = connectApi({ ...connection, url, token: accessToken });
  let who: string;
  try {
    who = (await api.request<{ me: { createdBy: string } }>('{ me { createdBy } }')).me.createdBy;
  } finally {
    await api.close();
  }
  saveLogin({ url, token: accessToken, username: who, sso });
  const expiresAt = new Date(sso.expiresAt).toISOString();
  if (out.json) out.document({ url, username: who, issuer: sso.issuer, expiresAt });
  else if (!out.quiet)
    out.line(`Logged in to ${url} as ${who} through ${sso.issuer}${sso.refreshToken ? ' (renewed as needed)' : ` (until ${expiresAt})`}.`);
}

export function registerAuthCommands(program: Command, context: CommandContext): void {
  program
    .command('login')
    .description('log in to a gateway and keep the token (in $SWITCHYARD_CONFIG or ~/.config/switchyard/config.json, mode 0600)')
    .option('-u, --username <name>', 'user name (asked for on a terminal when missing)')
    .option('--password-stdin', 'read the password from standard input (for scripts)')
    .option(
      '--sso [issuer]',
      "sign in through your organisation's OpenID provider instead (a code to confirm in any browser); name the issuer when the gateway offers several",
    )
    .action(async (opts: { username?: string; passwordStdin?: boolean; sso?: string | true }, command: Command) => {
      const { out, connection } = context(command);
      const url = gatewayUrl(connection);
      if (opts.sso !== undefined) return ssoLogin(out, connection, url, opts.sso === true ? undefined : opts.sso);
      const { username, password } = await askPassword(opts.username, Boolean(opts.passwordStdin));
      let response: Response;
      try {
        response = await fetch(`${url}/api/v1/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password }),
        });
      } catch (error) {
        throw toCliError(error);
      }
      const body = (await response.json().catch(() => ({}))) as {
        token?: string;
        user?: { username?: string };
        expiresAt?: string;
        error?: { code: string; message: string };
      };
      if (!response.ok || !body.token) {
        const exit = response.status === 401 ? EXIT.unauthenticated : EXIT.refused;
        throw new CliError(
          body.error ? `${body.error.code}: ${body.error.message}` : `the gateway answered HTTP ${response.status}`,
          exit,
          body.error?.code,
        );
      }
      const who = body.user?.username ?? username;
      saveLogin({ url, token: body.token, username: who });
      if (out.json) out.document({ url, username: who, expiresAt: body.expiresAt });
      else if (!out.quiet) out.line(`Logged in to ${url} as ${who} (the token expires ${body.expiresAt ?? 'when the gateway says'}).`);
    });

  program
    .command('logout')
    .description('revoke the saved token at the gateway and forget it here')
    .action(async (_opts: unknown, command: Command) => {
      const { out, connection } = context(command);
      const saved = readSavedLogin();
      if (!saved) {
        if (!out.quiet) out.note('Not logged in.');
        return;
      }
      // Revoke it first, so a copy of the file is worth nothing; a token already refused is gone anyway.
      if (saved.sso) {
        await revokeSso(saved.sso).catch((error: unknown) =>
          out.note(`Could not end the sign-in at ${saved.sso!.issuer} (${(error as Error).message}); forgetting it here.`),
        );
        forgetLogin();
        if (!out.quiet) out.line(`Logged out of ${saved.url}.`);
        return;
      }
      try {
        const api = connectApi({ ...connection, url: saved.url, token: saved.token });
        const { myTokens } = await api.request<{ myTokens: { id: string; current: boolean }[] }>('{ myTokens { id current } }');
        const current = myTokens.find((t) => t.current);
        if (current) await api.request('mutation ($id: ID!) { revokeToken(id: $id) }', { id: current.id });
      } catch (error) {
        if (!(error instanceof CliError && (error.exitCode === EXIT.unauthenticated || error.exitCode === EXIT.unreachable))) throw error;
        out.note(`Could not revoke the token at ${saved.url} (${error.message}); forgetting it here.`);
      }
      forgetLogin();
      if (!out.quiet) out.line(`Logged out of ${saved.url}.`);
    });

  program
    .command('whoami')
    .description('who the gateway takes you for, and in which workspace')
    .action(async (_opts: unknown, command: Command) => {
      const { out, api } = context(command);
      const { me } = await api().request<{ me: { createdBy: string; project: string | null } }>('{ me { createdBy project } }');
      if (out.json) out.document(me);
      else out.line(me.project ? `${me.createdBy} (project ${me.project})` : me.createdBy);
    });
}
