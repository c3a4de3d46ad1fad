/** `relayfs record`: a channel's buffers to disk, one file per buffer, until stopped. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { recordFromNats } from '../ship/index.js';
import { record, SIDECAR_NAME, type Sidecar } from '../tools/index.js';
import { action } from './action.js';
import { messageOf } from '../errors.js';
import { CliError, usageError } from './errors.js';
import { attachedToLaunched, launch, launchRequested, releaseLaunched } from './launch.js';
import { bytes, count, table } from './format.js';
import { LiveView, recordFrame } from './live-view.js';
import { positiveNumber } from './options.js';
import { createProgress } from './progress.js';
import { stopOnSignals } from './signals.js';
import { openSourceArg, pidOption, remoteHelp, socketOption } from './source-arg.js';

interface RecordFlags {
  out: string;
  run?: string;
  socket?: string;
  pid?: number;
  latency: number;
  duration?: number;
  json?: boolean;
}

export function registerRecord(program: Command): void {
  program
    .command('record')
    .description('stream every buffer of a channel to disk, one file per buffer (base0, base1, ...), until stopped')
    .argument(
      '[source]',
      'hostfs:/dir (relay files of a --run producer), unix:SOCKET[:/dir] or pid:N[:/dir] (another process), nats://host:port/STREAM (what relayfs ship sent), a directory / file on disk; with --socket / --pid: a relay path (default /)',
    )
    .requiredOption('-o, --out <dir>', 'output directory (files base0..N and relayfs.json)')
    .option('--run <module>', 'load this producer module in this process first: it opens its channel when imported, or exports default async ({ fs, signal }) => ...')
    .addOption(socketOption())
    .addOption(pidOption())
    .option('--latency <ms>', 'longest time a record waits before it reaches its file', positiveNumber, DEFAULT_LATENCY_MS)
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C or the channel closes)', positiveNumber)
    .option('--json', 'no live view; print the summary as JSON')
    .addHelpText(
      'after',
      `
Stops on Ctrl-C (SIGINT), SIGTERM, --duration, or when the producer closes
the channel; in every case the files are drained, fsync'ed and closed, and
${SIDECAR_NAME} holds per-buffer bytes, records and losses by cause.

Example:
  relayfs record --run ./producer.mjs hostfs:/myapp -o ./trace
  relayfs record -o ./trace -- node app.js      (starts app.js with klog registered in its main thread,
                                               records until it exits; exit status: the program's)
${remoteHelp('relayfs record --socket /tmp/relayfs-4242/root.sock -o ./trace      (or: --pid 4242)')}

From NATS JetStream (what relayfs ship published): one directory per
producer channel, <host>-<pid>-<channel>, each with its files and ${SIDECAR_NAME}:
  relayfs record nats://127.0.0.1:4222/RELAYFS -o ./from-nats
  relayfs merge ./from-nats

The counters in ${SIDECAR_NAME} are the producer's own, sent by its server;
when the producer closes its channel they are the final, exact ones.
Stopped early (Ctrl-C, --duration), data the server had sent but that had
not arrived yet is lost, and shows as "unread".`,
    )
    .action(action('record', runRecord));
}

async function runRecord(spec: string | undefined, flags: RecordFlags): Promise<number> {
  const controller = new AbortController();
  const unlisten = stopOnSignals(controller);
  let timer: NodeJS.Timeout | undefined;
  try {
    if (spec !== undefined && /^nats:/i.test(spec)) return await recordNats(spec, flags, controller.signal);
    if (launchRequested() && (spec !== undefined || flags.run || flags.socket !== undefined || flags.pid !== undefined)) {
      throw usageError('record -- CMD records the program it starts: no source, --run, --socket or --pid with it');
    }
    const launched = launchRequested() ? await launch() : null;
    const { source, producer } = launched ? { source: launched.source, producer: null } : await openSourceArg(spec, flags, controller.signal);
    let producerError: unknown = null;
    producer?.done.catch((err) => {
      producerError = err;
      controller.abort('producer-error');
    });
    if (flags.duration) timer = setTimeout(() => controller.abort('duration'), flags.duration * 1000);

    const progress = createProgress(flags);
    const view = new LiveView();
    const sidecar = await record({
      source,
      outDir: flags.out,
      latency: flags.latency,
      signal: controller.signal,
      onOpen: launched ? () => attachedToLaunched(launched) : undefined,
      onProgress: progress.live ? (p) => progress.update(recordFrame(`recording ${source.description} → ${flags.out}`, p, view)) : undefined,
    });
    progress.done();
    if (launched) releaseLaunched(launched);
    if (producerError) throw new CliError('ERELAY_PRODUCER_FAILED', `the --run producer failed: ${messageOf(producerError)}`, { cause: producerError });
    process.stdout.write(flags.json ? JSON.stringify(sidecar, null, 2) + '\n' : renderSummary(sidecar, flags.out));
    return launched ? await launched.exited : 0;
  } finally {
    clearTimeout(timer);
    unlisten();
  }
}

/** record nats://host:port/STREAM: rebuilds the per-buffer files of every producer in the stream. */
async function recordNats(spec: string, flags: RecordFlags, signal: AbortSignal): Promise<number> {
  if (flags.run || flags.socket !== undefined || flags.pid !== undefined) throw usageError(`${spec} is a NATS stream: --run, --socket and --pid do not apply`);
  const progress = createProgress(flags);
  const result = await recordFromNats({
    url: spec,
    outDir: flags.out,
    signal,
    onProgress: progress.live ? (p) => progress.update(`reading ${spec}: ${count(p.messages)} of ${count(p.total)} messages, ${bytes(p.bytes)}`) : undefined,
  });
  progress.done();
  if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else for (const p of result.producers) process.stdout.write(renderSummary(p.sidecar, p.dir));
  return 0;
}

/** The human summary: one row per buffer, then totals and where the sidecar is. */
export function renderSummary(s: Sidecar, out: string): string {
  const rows = s.buffers.map((b) => [
    b.name,
    bytes(b.bytes),
    count(b.records),
    count(b.written),
    count(b.drops?.full),
    count(b.drops?.tooBig),
    count(b.drops?.reentrant),
    count(b.drops?.overwritten),
    count(b.unread),
    b.paddingRemoved === null ? '-' : bytes(b.paddingRemoved),
  ]);
  const t = s.totals;
  rows.push(['total', bytes(t.bytes), count(t.records), count(t.written), '', '', '', '', count(t.unread), '']);
  const header = ['buffer', 'bytes', 'records', 'written', 'full', 'too big', 're-entrant', 'overwritten', 'unread', 'padding'];
  const lines = [
    `recorded ${s.source} → ${out} (${s.reason}${s.complete ? ', files complete' : ', INCOMPLETE'})`,
    table(header, rows, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9])),
    `lost: ${count(t.lost)} (full, too big, re-entrant and overwritten are losses by cause)`,
    ...s.warnings.map((w) => `warning: ${w}`),
    `summary: ${join(out, SIDECAR_NAME)}`,
  ];
  return lines.join('\n') + '\n';
}
