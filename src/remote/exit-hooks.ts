/**
 * Runs cleanups (socket removal) when the process ends: normal exit,
 * process.exit(), an uncaught exception, SIGINT, SIGTERM or SIGHUP.
 *
 * A signal listener replaces Node's default "terminate" action, so when ours
 * is the only listener we clean up and re-raise the signal: the process dies
 * exactly as it would have without us. When the application has its own
 * listener it decides whether to exit; the 'exit' hook then cleans up.
 */
import { isMainThread } from 'node:worker_threads';

type Cleanup = () => void;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const cleanups = new Set<Cleanup>();
let installed = false;

/** Registers a synchronous cleanup; returns a function that unregisters it. */
export function onProcessExit(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  install();
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) uninstall();
  };
}

function runAll(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      /* best effort: the process is going away */
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // the application handles it
  runAll();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  // Signals reach only the main thread; a worker's 'exit' is its own end.
  if (isMainThread) for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', runAll);
  if (isMainThread) for (const s of SIGNALS) process.off(s, onSignal);
}
