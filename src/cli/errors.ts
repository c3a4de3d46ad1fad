/**
 * Every failure of the command line ends as one line on stderr, "relayfs
 * <command>: <what happened>", and an exit status: 2 for a usage mistake, 1
 * for anything else. A stack trace only with RELAYFS_DEBUG=1.
 */
import { RelayError, messageOf, type CliErrorCode } from '../errors.js';

/** A failure the user can act on. */
export class CliError extends RelayError {
  declare readonly code: CliErrorCode;
  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'CliError';
  }

  get exitCode(): number {
    return this.code === 'ERELAY_USAGE' ? 2 : 1;
  }
}

/** A mistake in the command line itself: exit status 2. */
export function usageError(message: string): CliError {
  return new CliError('ERELAY_USAGE', message);
}

/** The one line to print for an error. */
export function errorLine(err: unknown): string {
  // Node's own errors already name the path: "ENOENT: no such file or directory, open 'x'".
  return messageOf(err).split('\n')[0]!;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : 1;
}

/** Prints the error line for `command` and sets the exit status. */
export function reportError(command: string, err: unknown): void {
  process.stderr.write(`relayfs${command ? ` ${command}` : ''}: ${errorLine(err)}\n`);
  if (process.env.RELAYFS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = exitCodeOf(err);
}
