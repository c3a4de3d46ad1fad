/**
 * Every failure of the command line ends as one line on stderr and a
 * non-zero exit status; a stack trace only with RELAYFS_DEBUG=1.
 */
import { KlogFormatError } from '../klog/index.js';
import { RelayError } from '../index.js';
import { SourceError } from '../tools/index.js';

/** A failure the user can act on; exitCode 2 for usage mistakes. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** The one line to print for an error. */
export function errorLine(err: unknown): string {
  if (err instanceof KlogFormatError) return err.detail;
  if (err instanceof CliError || err instanceof SourceError || err instanceof RelayError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    // Node's fs errors already name the path: "ENOENT: no such file or directory, open 'x'".
    return e.message;
  }
  return (e as Error)?.message ?? String(err);
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : 1;
}

/** Prints the error line for `command` and sets the exit status. */
export function reportError(command: string, err: unknown): void {
  const line = errorLine(err).split('\n')[0];
  process.stderr.write(`relayfs${command ? ` ${command}` : ''}: ${line}\n`);
  if (process.env.RELAYFS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = exitCodeOf(err);
}
