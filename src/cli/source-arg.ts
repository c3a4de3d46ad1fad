/**
 * The <source> argument of record, cat and top: "hostfs:/dir" (relay files
 * of this process, so a --run producer is needed) or a path on disk.
 */
import { openSource, type RelaySource } from '../tools/index.js';
import { CliError } from './errors.js';
import { runProducer, waitForFiles, type RunningProducer } from './run-module.js';

export interface OpenedSource {
  source: RelaySource;
  producer: RunningProducer | null;
}

export async function openSourceArg(spec: string, run: string | undefined, signal: AbortSignal): Promise<OpenedSource> {
  const inProcess = spec.startsWith('hostfs:');
  if (inProcess && !run) {
    throw new CliError(
      `${spec} is a relay file of this process: add --run <module> to start its producer here (other processes' channels need the socket server, not available yet)`,
      2,
    );
  }
  const source = openSource(spec);
  if (!run) return { source, producer: null };
  const producer = await runProducer(run, signal);
  // A producer that fails before its files appear should say so, not time out.
  const failed = producer.done.then(() => new Promise<never>(() => {}));
  if (inProcess) await waitForFiles(source, 5000, failed);
  return { source, producer };
}
