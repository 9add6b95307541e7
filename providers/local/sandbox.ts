/**
 * The command line that runs one rank of a local job in its sandbox, built
 * from well-kept tools only: bubblewrap for the namespaces and the file
 * system view, util-linux `setpriv` to become the job's account and drop
 * every capability, util-linux `prlimit` for rlimits where there are no
 * cgroups, and a few lines of Perl (perl-base is part of every Debian) that
 * set the job's environment and report whether its command could be executed.
 *
 * The chain, each step exec'ing the next in the same process, so the rank's
 * pid and process group stay those of the process the driver spawned:
 *
 *   sh -c 'echo $$ > <rank cgroup>/cgroup.procs …; exec "$@"'    join the rank's cgroups before anything runs
 *   env --ignore-signal=TERM bwrap <namespaces, mounts> --        see below for why TERM is ignored here
 *     env --default-signal=TERM                                   … and restored for the job
 *     setpriv --reuid U --regid G --init-groups --inh-caps=-all --bounding-set=-all --no-new-privs --
 *     prlimit --as=B --nproc=N --                                 only without cgroups
 *     perl -e <launcher> -- <command…>                           the job's environment, read from fd 4; exec
 *
 * Signals: the driver signals the rank's process group (TERM, KILL, STOP,
 * CONT). bwrap sits in that group outside the job's PID namespace and would
 * die of a TERM at once, ending the rank before the job's own processes had
 * their grace period; ignoring TERM in bwrap only (the disposition is
 * inherited, so it is reset before the job's command) lets TERM reach the
 * job while bwrap waits. KILL, STOP and CONT reach every process of the group,
 * the PID namespace's init too. bwrap exits with the job's status, 128 + N
 * for a signal N. No `--die-with-parent`: the job outlives a provider
 * restart, and the next start stops it by its process group. No
 * `--new-session` is needed: the driver spawns each rank detached, in a
 * session of its own without a controlling terminal.
 *
 * The job's environment never passes through a process that runs as root:
 * variables such as LD_PRELOAD in a specification would otherwise be
 * honoured by bwrap or setpriv. Root's side of the chain runs with PATH
 * alone; the launcher, already the job's account, sets the job's variables.
 */
import { isAbsolute, join, relative, sep } from 'node:path';

import type { UnixAccount } from '../sdk/index.js';
import type { RankCgroup } from './cgroups.js';

/** `bwrap`: namespaces and a private file system view; `none`: the job's account and limits only (unsafe: it sees the host). */
export type SandboxMode = 'bwrap' | 'none';
/** `none`: a network namespace of its own with loopback only; `host`: the host's network, loopback services included. */
export type JobNetwork = 'none' | 'host';

/** The PATH a job gets unless its specification sets one. */
export const SAFE_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The tools of the chain, by absolute path: the provider's PATH never decides what runs as root. */
export const SANDBOX_TOOLS = {
  sh: '/bin/sh',
  env: '/usr/bin/env',
  setpriv: '/usr/bin/setpriv',
  prlimit: '/usr/bin/prlimit',
  perl: '/usr/bin/perl',
  nsenter: '/usr/bin/nsenter',
} as const;

/** The file descriptor the launcher reports on: "ready" before the exec, "exec <errno> <message>" if it failed. */
export const STATUS_FD = 3;
/** The file descriptor the launcher reads the job's environment from: NUL-separated KEY=value. */
export const ENV_FD = 4;

/**
 * The launcher: the job's environment from fd 4 and nothing else; fds the
 * provider's own parent may have leaked closed; the status fd close-on-exec,
 * so its end without an "exec" line means the command runs.
 */
const LAUNCHER = String.raw`
use strict; use warnings; use Fcntl qw(F_SETFD FD_CLOEXEC); use POSIX ();
open(my $status, '>&=', 3) or exit 125;
open(my $input, '<&=', 4) or exit 125;
my $data = do { local $/; <$input> };
close($input);
%ENV = ();
for my $pair (split /\0/, defined $data ? $data : '') { my ($k, $v) = split /=/, $pair, 2; $ENV{$k} = defined $v ? $v : ''; }
opendir(my $dir, '/proc/self/fd') or exit 125;
my @fds = grep { /^\d+$/ && $_ > 3 } readdir($dir);
closedir($dir);
POSIX::close($_) for @fds;
fcntl($status, F_SETFD, FD_CLOEXEC) or exit 125;
syswrite($status, "ready\n");
{ no warnings 'exec'; exec { $ARGV[0] } @ARGV; }
my $errno = $! + 0;
syswrite($status, "exec $errno $!\n");
exit($errno == POSIX::ENOENT() ? 127 : 126);
`;

export interface SandboxOptions {
  mode: SandboxMode;
  /** Absolute path of bwrap. */
  bwrapPath: string;
  network: JobNetwork;
  /** Directories no job may see (the provider's state directory): covered by an empty tmpfs. */
  hidden: string[];
  /** Whether the provider may switch accounts (it runs as root); otherwise jobs run as the provider's own account. */
  switchUser: boolean;
}

/** One rank to start. */
export interface RankSpec {
  /** The account to become (ignored when the provider cannot switch). */
  account: UnixAccount;
  /** The directory it starts in. */
  cwd: string;
  /** Directories it may write, bound read-write into its view: its work directory, or the working directory it was given. */
  writable: string[];
  /** Its whole environment. */
  env: Record<string, string>;
  command: string[];
  /** Its cgroup, joined before anything runs; null when limits are rlimits. */
  cgroup: RankCgroup | null;
  /** Limits set with prlimit when there is no cgroup (0: none). RLIMIT_NPROC counts every process of the account, not of the rank. */
  rlimits: { addressSpaceBytes: number; processes: number } | null;
  /** Size of each private tmpfs (/tmp, /var/tmp, /dev/shm), so that files there cannot outgrow the job's memory; 0: the kernel's default. */
  tmpfsBytes: number;
}

/** What to spawn (detached, with fds 3 and 4 as pipes) and what to write on fd 4. */
export interface SandboxCommand {
  file: string;
  args: string[];
  /** The environment of the spawned process itself: PATH only. */
  env: NodeJS.ProcessEnv;
  /** Where to spawn it; inside bwrap the job starts in `cwd` whatever this is. */
  spawnCwd: string;
  /** The job's environment for the launcher. */
  envPayload: string;
}

/** What the launcher reported once its status fd closed. */
export type LauncherStatus = { outcome: 'running' } | { outcome: 'exec-failed'; errno: number; message: string } | { outcome: 'setup-failed' };

/** Read the launcher's report: no "ready" means the sandbox itself could not be set up. */
export function parseLauncherStatus(text: string): LauncherStatus {
  const lines = text.split('\n');
  if (!lines.includes('ready')) return { outcome: 'setup-failed' };
  const failed = lines.find((line) => line.startsWith('exec '));
  if (!failed) return { outcome: 'running' };
  const match = /^exec (\d+) ?(.*)$/.exec(failed);
  return { outcome: 'exec-failed', errno: match ? Number(match[1]) : 0, message: match?.[2] ?? failed };
}

/** The directories between a hidden directory and a path inside it (both excluded), outermost first. */
function dirsBetween(hidden: string, path: string): string[] {
  const rel = relative(hidden, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return [];
  const parts = rel.split(sep).slice(0, -1);
  return parts.map((_, k) => join(hidden, ...parts.slice(0, k + 1)));
}

function bwrapArgs(options: SandboxOptions, rank: RankSpec): string[] {
  const size = rank.tmpfsBytes > 0 ? ['--size', String(Math.floor(rank.tmpfsBytes))] : [];
  const privateTmp = (path: string) => ['--perms', '1777', ...size, '--tmpfs', path];
  const args = [
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    // The job's cgroup becomes its root: /proc/self/cgroup names no host path.
    '--unshare-cgroup-try',
    ...(options.network === 'none' ? ['--unshare-net'] : []),
    // Unprivileged bwrap runs in a user namespace anyway; a job then cannot make further ones.
    ...(options.switchUser ? [] : ['--unshare-user', '--disable-userns']),
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    ...privateTmp('/tmp'),
    ...privateTmp('/var/tmp'),
    ...privateTmp('/dev/shm'),
    // Sockets and state of the host's services; only the resolver's files stay, for DNS on the host network.
    '--tmpfs',
    '/run',
    '--ro-bind-try',
    '/run/systemd/resolve',
    '/run/systemd/resolve',
    // Its own cgroup only, read-only, where programs look for their limits.
    '--tmpfs',
    '/sys/fs/cgroup',
    ...(rank.cgroup?.mounts.flatMap((m) => ['--ro-bind', m.source, m.target]) ?? []),
    ...options.hidden.flatMap((path) => ['--tmpfs', path]),
    // bwrap would make the directories on the way to a bind 0700 root: the job could not reach its own by path.
    ...rank.writable.flatMap((path) =>
      options.hidden.flatMap((hidden) => dirsBetween(hidden, path)).flatMap((dir) => ['--perms', '0755', '--dir', dir]),
    ),
    // After the hidden directories: a work directory inside the state directory shows through.
    ...rank.writable.flatMap((path) => ['--bind', path, path]),
    '--chdir',
    rank.cwd,
    '--clearenv',
    '--',
    SANDBOX_TOOLS.env,
    '--default-signal=TERM',
  ];
  return args;
}

/** The account switch at the start of the job's side of the chain: setpriv, as the job's account without capabilities, or no new privileges only. */
export function becomeAccount(options: Pick<SandboxOptions, 'switchUser'>, account: UnixAccount): [string, ...string[]] {
  return options.switchUser
    ? [
        SANDBOX_TOOLS.setpriv,
        `--reuid=${account.uid}`,
        `--regid=${account.gid}`,
        account.name !== null ? '--init-groups' : '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        '--no-new-privs',
        '--',
      ]
    : [SANDBOX_TOOLS.setpriv, '--no-new-privs', '--'];
}

/** prlimit for the limits of a rank without a cgroup; nothing when there are none. */
export function rlimitPrefix(rlimits: RankSpec['rlimits']): string[] {
  const limits = [
    ...(rlimits && rlimits.addressSpaceBytes > 0 ? [`--as=${Math.floor(rlimits.addressSpaceBytes)}`] : []),
    ...(rlimits && rlimits.processes > 0 ? [`--nproc=${rlimits.processes}`] : []),
  ];
  return limits.length > 0 ? [SANDBOX_TOOLS.prlimit, ...limits, '--'] : [];
}

/** The command, run by a shell that first moves itself into the given cgroups (each `cgroup.procs`); the command itself without any. */
export function joiningCgroups(procsFiles: readonly string[], command: [string, ...string[]]): [string, ...string[]] {
  if (procsFiles.length === 0) return command;
  return [
    SANDBOX_TOOLS.sh,
    '-c',
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"',
    'sy-cgroup-join',
    ...procsFiles,
    '--',
    ...command,
  ];
}

/** The command line of one rank (see the chain above). */
export function sandboxCommand(options: SandboxOptions, rank: RankSpec): SandboxCommand {
  const inner: [string, ...string[]] = [
    ...becomeAccount(options, rank.account),
    ...rlimitPrefix(rank.rlimits),
    SANDBOX_TOOLS.perl,
    '-e',
    LAUNCHER,
    '--',
    ...rank.command,
  ];
  const sandboxed: [string, ...string[]] =
    options.mode === 'bwrap' ? [SANDBOX_TOOLS.env, '--ignore-signal=TERM', options.bwrapPath, ...bwrapArgs(options, rank), ...inner] : inner;
  const [file, ...args] = joiningCgroups(rank.cgroup?.procsFiles ?? [], sandboxed);
  return {
    file,
    args,
    env: { PATH: SAFE_PATH },
    spawnCwd: options.mode === 'bwrap' ? '/' : rank.cwd,
    envPayload: Object.entries(rank.env)
      .map(([key, value]) => `${key}=${value}\0`)
      .join(''),
  };
}
