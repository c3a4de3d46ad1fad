/** `relayfs ship`: a channel's buffers to a NATS JetStream stream, until the source ends or Ctrl-C. */
import type { Command } from 'commander';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { messageOf } from '../errors.js';
import { DEFAULT_PREFIX, DEFAULT_STREAM, ship, type ShipSummary } from '../ship/index.js';
import { action } from './action.js';
import { CliError } from './errors.js';
import { bytes, count } from './format.js';
import { positiveInt, positiveNumber } from './options.js';
import { createProgress } from './progress.js';
import { stopOnSignals } from './signals.js';
import { openSourceArg, pidOption, remoteHelp, socketOption } from './source-arg.js';

interface ShipFlags {
  nats: string;
  stream: string;
  subjectPrefix: string;
  host?: string;
  producer?: string;
  createStream?: boolean;
  run?: string;
  socket?: string;
  pid?: number;
  latency: number;
  maxInFlight: number;
  duration?: number;
  json?: boolean;
}

export function registerShip(program: Command): void {
  program
    .command('ship')
    .description('publish every buffer of a channel to a NATS JetStream stream, one subject per buffer, exactly once')
    .argument('[source]', 'unix:SOCKET[:/dir] or pid:N[:/dir] (another process), hostfs:/dir with --run, or a recorded directory')
    .requiredOption('--nats <url>', 'the NATS server: nats://[user:password@]host[:port]')
    .option('--stream <name>', 'the JetStream stream (it must take <prefix>.>)', DEFAULT_STREAM)
    .option('--subject-prefix <p>', 'first subject token(s): subjects are <p>.<host>.<pid>.<channel>.<buffer>', DEFAULT_PREFIX)
    .option('--host <name>', 'the <host> token (default: this machine)')
    .option('--producer <id>', 'the <pid> token (default: the producer pid; for a directory, a hash of it)')
    .option('--create-stream', 'create the stream (subjects <prefix>.>) if it does not exist')
    .option('--run <module>', 'load this producer module in this process first')
    .addOption(socketOption())
    .addOption(pidOption())
    .option('--latency <ms>', 'longest time a record waits before it is published', positiveNumber, DEFAULT_LATENCY_MS)
    .option('--max-in-flight <n>', 'publishes waiting for the server at once (each buffer has one at most)', positiveInt, 16)
    .option('--duration <seconds>', 'stop after this many seconds', positiveNumber)
    .option('--json', 'no live view; print the summary as JSON')
    .addHelpText(
      'after',
      `
Runs until the producer closes its channel (a directory: until it is all
sent), or Ctrl-C; then publishes each buffer's final counters.
Started again after a crash, it goes on from what the stream already has:
a directory is read again from there; a live buffer's bytes that the dead
shipper had read but not published are counted as lostInTransit.
While the server is slow or away the buffers are not read: writers never
wait, and what does not fit is dropped and counted by the channel.

Example:
  relayfs ship pid:4242 --nats nats://127.0.0.1:4222 --create-stream
${remoteHelp('relayfs ship --pid 4242 /trace --nats nats://127.0.0.1:4222')}
Read it back:  relayfs record nats://127.0.0.1:4222/${DEFAULT_STREAM} -o ./from-nats`,
    )
    .action(action('ship', runShip));
}

async function runShip(spec: string | undefined, flags: ShipFlags): Promise<number> {
  const controller = new AbortController();
  const unlisten = stopOnSignals(controller);
  let timer: NodeJS.Timeout | undefined;
  try {
    const { source, producer } = await openSourceArg(spec, flags, controller.signal);
    let producerError: unknown = null;
    producer?.done.catch((err) => {
      producerError = err;
      controller.abort('producer-error');
    });
    if (flags.duration) timer = setTimeout(() => controller.abort('duration'), flags.duration * 1000);
    const progress = createProgress(flags);
    const summary = await ship({
      source,
      nats: flags.nats,
      stream: flags.stream,
      subjectPrefix: flags.subjectPrefix,
      host: flags.host,
      producer: flags.producer,
      createStream: flags.createStream,
      latency: flags.latency,
      maxInFlight: flags.maxInFlight,
      signal: controller.signal,
      onProgress: progress.live ? (s) => progress.update(progressLine(s)) : undefined,
    });
    progress.done();
    if (producerError) throw new CliError('ERELAY_PRODUCER_FAILED', `the --run producer failed: ${messageOf(producerError)}`, { cause: producerError });
    process.stdout.write(flags.json ? JSON.stringify(summary, null, 2) + '\n' : renderShipSummary(summary));
    return 0;
  } finally {
    clearTimeout(timer);
    unlisten();
  }
}

function progressLine(s: ShipSummary): string {
  const shipped = s.buffers.reduce((n, b) => n + b.bytes, 0);
  const retries = s.buffers.reduce((n, b) => n + b.retries, 0);
  return (
    `shipping ${s.source} → ${s.server}/${s.stream}: ${bytes(shipped)} in ${count(s.buffers.reduce((n, b) => n + b.messages, 0))} messages` +
    (retries ? `, ${count(retries)} retries (${s.lastError ?? ''})` : '')
  );
}

export function renderShipSummary(s: ShipSummary): string {
  const lines = [`shipped ${s.source} → ${s.server}/${s.stream} (${s.reason}${s.complete ? '' : ', INCOMPLETE'}) in ${(s.elapsedMs / 1000).toFixed(1)} s`];
  for (const b of s.buffers) {
    const st = b.stats;
    lines.push(
      `  ${b.subject}: ${bytes(b.bytes)}, ${count(b.messages)} messages, bytes ${b.firstOffset}..${b.endOffset}` +
        (st ? `; written ${count(st.messagesWritten)}, dropped full ${count(st.droppedFull)}, overwritten ${count(st.messagesOverwritten)}` : '') +
        (b.lostInTransit ? `; lost in transit ${bytes(b.lostInTransit)}` : '') +
        (b.duplicates ? `; ${count(b.duplicates)} duplicates dropped by the server` : ''),
    );
  }
  const t = s.totals;
  lines.push(`total: ${bytes(t.bytes)} in ${count(t.messages)} messages, ${count(t.retries)} retries, ${s.disconnects} disconnects`);
  return lines.join('\n') + '\n';
}
