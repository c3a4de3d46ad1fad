/** Wraps a subcommand's action: errors become one line and an exit status. */
import { reportError } from './errors.js';

export function action<A extends unknown[]>(name: string, fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      reportError(name, err);
    }
  };
}
