/**
 * Live progress on a terminal (log-update, on stderr so stdout stays data),
 * and nothing at all when stderr is not a terminal or --json is given: the
 * final result is then the only output.
 */
import { createLogUpdate } from 'log-update';

export interface Progress {
  readonly live: boolean;
  update(text: string): void;
  /** Leaves the last frame on screen. */
  done(): void;
}

export function createProgress(options: { json?: boolean } = {}): Progress {
  const live = !options.json && process.stderr.isTTY === true && !process.env.CI;
  if (!live) return { live, update() {}, done() {} };
  const log = createLogUpdate(process.stderr);
  return {
    live,
    update: (text) => log(text),
    done: () => log.done(),
  };
}
