/**
 * Exit codes scripts can rely on (also in the README's command-line section).
 * `run --follow` and `status --wait` exit with the job's own exit code instead.
 */
export const EXIT = {
  ok: 0,
  /** The gateway refused the operation, or one of several items failed. */
  refused: 1,
  /** The command line was wrong: unknown option, missing argument, bad value. */
  usage: 2,
  /** No login, or the token was refused (UNAUTHENTICATED). */
  unauthenticated: 3,
  /** The gateway could not be reached, or answered something that is not GraphQL. */
  unreachable: 4,
  /** A followed job ran out of time (EXPIRED), as timeout(1) does. */
  expired: 124,
} as const;

/** An error the command line reports in one line and exits with its code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
    /** The contract's code, when the gateway gave one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A followed job ended: the command exits with the job's code and prints nothing more. */
export class JobEnded extends Error {
  constructor(readonly exitCode: number) {
    super(`the job ended with exit code ${exitCode}`);
    this.name = 'JobEnded';
  }
}
