/**
 * `relayfs top`: a live view of a channel's buffers (fill level, write and
 * drop rates). Read-only: it looks at counters and never consumes data.
 */
import type { Command } from 'commander';
import type { SourceFile } from '../tools/index.js';
import { action } from './action.js';
import { LiveView, fillFromStats, type BufferSnapshot } from './live-view.js';
import { positiveInt, positiveNumber } from './options.js';
import { createProgress } from './progress.js';
import { sleep } from '../tools/async.js';
import { stopOnSignals } from './signals.js';
import { openSourceArg, pidOption, remoteHelp, socketOption } from './source-arg.js';

interface TopFlags {
  run?: string;
  socket?: string;
  pid?: number;
  interval: number;
  count?: number;
  json?: boolean;
}

export function registerTop(program: Command): void {
  program
    .command('top')
    .description("live view of a channel's buffers: fill level, write and drop rates")
    .argument(
      '[source]',
      'hostfs:/dir of a --run producer, unix:SOCKET[:/dir] or pid:N[:/dir] (another process), or a recorded directory (its final counters); with --socket / --pid: a relay path (default /)',
    )
    .option('--run <module>', 'load this producer module in this process first')
    .addOption(socketOption())
    .addOption(pidOption())
    .option('-i, --interval <ms>', 'time between updates', positiveNumber, 500)
    .option('-n, --count <n>', 'stop after this many updates', positiveInt)
    .option('--json', 'one JSON line per update (also what you get when stdout is not a terminal)')
    .addHelpText(
      'after',
      `\nRuns until Ctrl-C, --count, or the producer closes the channel. It only looks at
counters and never consumes data.
${remoteHelp('relayfs top --pid 4242        (or: --socket /tmp/relayfs-4242/root.sock, or top unix:/tmp/relayfs-4242/root.sock:/trace)')}`,
    )
    .action(action('top', runTop));
}

async function runTop(spec: string | undefined, flags: TopFlags): Promise<number> {
  const controller = new AbortController();
  const unlisten = stopOnSignals(controller);
  const files: SourceFile[] = [];
  try {
    const { source } = await openSourceArg(spec, flags, controller.signal);
    for (const entry of await source.list()) files.push(await source.open(entry));
    const json = flags.json === true || process.stdout.isTTY !== true;
    const progress = createProgress({ json });
    const view = new LiveView();
    const started = performance.now();
    // Finished files do not change: one look is all there is.
    const updates = flags.count ?? (source.live ? Infinity : 1);
    for (let n = 0; n < updates && !controller.signal.aborted; n++) {
      if (n > 0) await sleep(flags.interval, controller.signal);
      const snaps = await Promise.all(files.map(snapshot));
      const rows = view.rows(snaps);
      const closed = snaps.every((s) => s.stats?.closed === true);
      if (json) {
        process.stdout.write(JSON.stringify({ elapsedMs: Math.round(performance.now() - started), source: source.description, closed, buffers: rows }) + '\n');
      } else {
        const title = source.live
          ? `relayfs top ${source.description}  every ${flags.interval} ms${closed ? '  (channel closed)' : ''}  Ctrl-C quits`
          : `relayfs top ${source.description}: a recording, so its final counters, shown once (a live view needs a running producer: --pid, --socket, or hostfs:/dir --run)`;
        const frame = `${title}\n${view.render(rows)}`;
        if (progress.live) progress.update(frame);
        else process.stdout.write(frame + '\n');
      }
      if (closed && source.live) break;
    }
    progress.done();
    return 0;
  } finally {
    await Promise.allSettled(files.map((f) => f.close()));
    unlisten();
  }
}

async function snapshot(file: SourceFile): Promise<BufferSnapshot> {
  const stats = await file.stats();
  let fill = fillFromStats(stats, file.nSubbufs);
  if (file.subbufSize && file.nSubbufs && stats && !stats.closed) {
    fill = Math.min(1, (await file.available()) / (file.subbufSize * file.nSubbufs));
  }
  return { name: file.entry.name, stats, fill };
}
