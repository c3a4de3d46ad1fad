/**
 * Runs cleanups (socket removal) when the process ends: normal exit,
 * process.exit(), an uncaught exception, SIGINT, SIGTERM or SIGHUP.
 *
 * Signals go through signal-hooks.ts: when no application listener is left
 * we clean up and the process dies exactly as it would have without us. When
 * the application has its own listener it decides whether to exit; the
 * 'exit' hook then cleans up.
 */
import { isMainThread } from 'node:worker_threads';
import { onSignal } from '../signal-hooks.js';

type Cleanup = () => void;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const cleanups = new Set<Cleanup>();
let installed = false;
let unhookSignals: (() => void)[] = [];

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

function signalled(_signal: NodeJS.Signals, ending: boolean): void {
  if (!ending) return; // the application handles it; 'exit' cleans up if it ends
  runAll();
  uninstall();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  // Signals reach only the main thread; a worker's 'exit' is its own end.
  if (isMainThread) unhookSignals = SIGNALS.map((s) => onSignal(s, signalled));
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', runAll);
  for (const unhook of unhookSignals.splice(0)) unhook();
}
