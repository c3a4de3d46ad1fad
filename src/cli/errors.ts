/**
 * Every failure of the command line ends as one line on stderr and an exit
 * status: "relayfs <command>: <what is wrong>" and 2 for a usage mistake,
 * "relayfs <command>: <CODE>: <what happened>" and 1 for anything else (the
 * error's stable code, as Node's own errors print theirs). A stack trace only
 * with RELAYFS_DEBUG=1.
 */
import { RelayError, type CliErrorCode } from '../errors.js';

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
  if (err instanceof CliError && err.code === 'ERELAY_USAGE') return firstLine(err.detail);
  // A RelayError's message is "CODE: detail"; Node's own errors read "ENOENT: no such file or directory, open 'x'".
  return firstLine(err instanceof Error ? err.message : String(err));
}

function firstLine(text: string): string {
  return text.split('\n')[0]!;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : 1;
}

/** The reader of our output went away (`relayfs merge DIR | head`): not a failure. */
export function isBrokenPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'EPIPE';
}

/** Prints the error line for `command` and sets the exit status; a broken pipe ends quietly with 0. */
export function reportError(command: string, err: unknown): void {
  if (isBrokenPipe(err)) {
    process.exitCode = 0;
    return;
  }
  process.stderr.write(`relayfs${command ? ` ${command}` : ''}: ${errorLine(err)}\n`);
  if (process.env.RELAYFS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = exitCodeOf(err);
}
