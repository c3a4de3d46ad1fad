/**
 * SIGINT / SIGTERM stop long commands cleanly: the first one aborts (the
 * command finishes its files and exits), a second one exits at once.
 */
export function stopOnSignals(controller: AbortController): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`relayfs: ${sig} again, exiting without finishing\n`);
      process.exit(130);
    }
    controller.abort(sig);
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.removeListener(s, handler);
  };
}

/** Resolves after ms (never, for Infinity) or when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = ms === Infinity ? undefined : setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
