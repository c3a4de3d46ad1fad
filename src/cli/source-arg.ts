/**
 * The <source> argument of record, cat and top: "hostfs:/dir" (relay files
 * of this process, so a --run producer is needed), "unix:/path/to/sock[:/dir]"
 * or "pid:N[:/dir]" (relay files of another process, over its socket), or a
 * path on disk. With --socket PATH or --pid N the argument is instead a path
 * in that process's relay tree (default "/": every relay file).
 */
import { Option } from 'commander';
import { RemoteSource, SourceError, openSource, type RelaySource } from '../tools/index.js';
import { usageError } from './errors.js';
import { positiveInt } from './options.js';
import { runProducer, waitForFiles, type RunningProducer } from './run-module.js';

export interface OpenedSource {
  source: RelaySource;
  producer: RunningProducer | null;
}

/** The options that choose where the source lives, shared by record, cat and top. */
export interface SourceFlags {
  run?: string;
  socket?: string;
  pid?: number;
}

/** --socket PATH, shared by record, cat and top. */
export function socketOption(): Option {
  return new Option('--socket <path>', "read another process's relay files through its socket (exposeRelayFiles().socketPath)");
}

/** --pid N: the socket of process N, found in its default place. */
export function pidOption(): Option {
  return new Option('--pid <pid>', 'like --socket, with the socket of that process found in its default place').argParser(positiveInt);
}

/** Help text about reading another process, for the end of a command's --help. */
export function remoteHelp(example: string): string {
  return `
Another process: it must call exposeRelayFiles(); then name its socket
(--socket PATH, or the source unix:PATH[:/relay/dir]) or its pid (--pid N,
or pid:N[:/relay/dir]). With --socket or --pid the argument is a path in that
process's relay tree (default /: every relay file). Example:
  ${example}`;
}

/** A source argument that names no source is a usage mistake. */
function openSourceOrUsage(spec: string): RelaySource {
  try {
    return openSource(spec);
  } catch (err) {
    if (err instanceof SourceError && err.code === 'EINVAL') throw usageError(err.detail);
    throw err;
  }
}

/** Whether the flags point at another process. */
export function isRemote(spec: string | undefined, flags: SourceFlags): boolean {
  return flags.socket !== undefined || flags.pid !== undefined || /^(unix|pid):/i.test(spec ?? '');
}

export async function openSourceArg(spec: string | undefined, flags: SourceFlags, signal: AbortSignal): Promise<OpenedSource> {
  const { run } = flags;
  if (flags.socket !== undefined || flags.pid !== undefined) {
    if (flags.socket !== undefined && flags.pid !== undefined) throw usageError('give --socket or --pid, not both');
    const how = flags.socket !== undefined ? '--socket' : '--pid';
    if (run) throw usageError(`--run loads a producer into this process and ${how} reads another process: use one of them`);
    const path = spec ?? '/';
    if (!path.startsWith('/')) {
      throw usageError(`with ${how} the argument is a path in the producer's relay tree, like /trace or /trace/cpu0 (got ${path})`);
    }
    return { source: new RemoteSource({ socketPath: flags.socket, pid: flags.pid, path }), producer: null };
  }
  if (spec === undefined) throw usageError('no source given: a directory or file on disk, hostfs:/dir with --run, or --socket PATH / --pid N');
  const inProcess = spec.startsWith('hostfs:');
  if (inProcess && !run) {
    throw usageError(`${spec} is a relay file of this process: add --run <module> to start its producer here (another process's relay files: --socket PATH or --pid N)`);
  }
  if (run && isRemote(spec, flags)) throw usageError(`--run loads a producer into this process and ${spec} is another process: use one of them`);
  const source = openSourceOrUsage(spec);
  if (!run) return { source, producer: null };
  const producer = await runProducer(run, signal);
  // A producer that fails before its files appear should say so, not time out.
  const failed = producer.done.then(() => new Promise<never>(() => {}));
  if (inProcess) await waitForFiles(source, 5000, failed);
  return { source, producer };
}
