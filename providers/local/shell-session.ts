/**
 * A shell inside a running rank's sandbox, on a pseudo-terminal (the SDK's
 * pty session, node-pty).
 *
 * The shell enters the job's own environment, never beside it on the host:
 *
 *   sh -c 'echo $$ > <rank cgroup>/cgroup.procs …; exec "$@"'   the rank's cgroups: its limits count the shell
 *   nsenter --target <sandbox init> --mount --uts --ipc --net --pid --cgroup [--user] --root --wd --
 *     setpriv <the job's account, no capabilities, no new privileges> --
 *     prlimit …                                                   only without cgroups, as the rank
 *     perl -e <launcher> -- <working dir> <shell> -i             the job's environment; cd; exec
 *
 * The target is the sandbox's init (bwrap's child, pid 1 of the job's PID
 * namespace), so the shell sees the job's processes, files, /tmp, network and
 * hostname, and dies with the job's PID namespace when the job ends. The job's
 * environment travels to the launcher as `SY_JOB_ENV_<name>` variables, so no
 * process that runs as root ever has a variable of the job's under its own
 * name (an LD_PRELOAD in a specification would otherwise be honoured by
 * nsenter or setpriv); the launcher, already the job's account, restores it.
 */
import { existsSync } from 'node:fs';

import { spawnPtySession, type DriverSession, type UnixAccount } from '../sdk/index.js';
import { becomeAccount, joiningCgroups, rlimitPrefix, SAFE_PATH, SANDBOX_TOOLS, type RankSpec, type SandboxOptions } from './sandbox.js';

/** How the job's variables are named on the root side of the chain. */
const JOB_ENV_PREFIX = 'SY_JOB_ENV_';

/** The terminal type a shell gets unless the job's environment names one. */
export const SHELL_TERM = 'xterm-256color';

/** The launcher: the job's environment from its prefixed variables, its working directory, then the shell. */
const SHELL_LAUNCHER = String.raw`
use strict; use warnings; use POSIX ();
my %job;
for my $key (keys %ENV) { $job{substr($key, length('${JOB_ENV_PREFIX}'))} = $ENV{$key} if index($key, '${JOB_ENV_PREFIX}') == 0; }
my $term = $ENV{TERM};
%ENV = %job;
$ENV{TERM} = $term if defined $term && !defined $ENV{TERM};
my $dir = shift @ARGV;
chdir($dir) or do { print STDERR "cannot enter the job's working directory $dir: $!\r\n"; exit 126 };
$ENV{PWD} = $dir;
opendir(my $fds, '/proc/self/fd') or exit 125;
my @stray = grep { /^\d+$/ && $_ > 2 } readdir($fds);
closedir($fds);
POSIX::close($_) for @stray;
{ no warnings 'exec'; exec { $ARGV[0] } @ARGV; }
print STDERR "could not start $ARGV[0]: $!\r\n";
exit 127;
`;

/** Where and as whom the shell runs: what the rank it joins was started with. */
export interface ShellTarget {
  /** The process whose namespaces the shell enters (the sandbox's init); null without a sandbox. */
  namespacePid: number | null;
  account: UnixAccount;
  cwd: string;
  /** The rank's environment, as it was started with. */
  env: Record<string, string>;
  /** The rank's cgroups (`cgroup.procs` of each); empty under rlimits. */
  cgroupProcsFiles: string[];
  rlimits: RankSpec['rlimits'];
}

/** The shell a session gets: bash where the host has it, else sh. */
export function defaultShell(): string {
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

/** The command line of a shell in a rank's sandbox (see the chain above), and the environment of its first process. */
export function shellCommand(
  options: SandboxOptions,
  target: ShellTarget,
  shell: string,
): { file: string; args: string[]; env: Record<string, string> } {
  const inner: [string, ...string[]] = [
    ...becomeAccount(options, target.account),
    ...rlimitPrefix(target.rlimits),
    SANDBOX_TOOLS.perl,
    '-e',
    SHELL_LAUNCHER,
    '--',
    target.cwd,
    shell,
    '-i',
  ];
  const chain: [string, ...string[]] =
    options.mode === 'bwrap' && target.namespacePid !== null
      ? [
          SANDBOX_TOOLS.nsenter,
          `--target=${target.namespacePid}`,
          '--mount',
          '--uts',
          '--ipc',
          '--net',
          '--pid',
          '--cgroup',
          // Unprivileged bwrap made a user namespace: the provider, its owner, may enter it.
          ...(options.switchUser ? [] : ['--user', '--preserve-credentials']),
          '--root',
          '--wd',
          '--',
          ...inner,
        ]
      : inner;
  const [file, ...args] = joiningCgroups(target.cgroupProcsFiles, chain);
  const env: Record<string, string> = { PATH: SAFE_PATH };
  for (const [key, value] of Object.entries({ TERM: SHELL_TERM, ...target.env })) env[`${JOB_ENV_PREFIX}${key}`] = value;
  return { file, args, env };
}

/** Start a shell in a rank's sandbox on a pty of the given size. */
export function openShell(options: SandboxOptions, target: ShellTarget, size: { cols: number; rows: number }): DriverSession {
  const command = shellCommand(options, target, defaultShell());
  return spawnPtySession({ ...command, cols: size.cols, rows: size.rows, term: SHELL_TERM });
}
