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
