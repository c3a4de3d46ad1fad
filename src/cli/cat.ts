/** `relayfs cat`: print one relay file or recorded file, decoding klog records. */
import { statSync } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { KlogReader, LineBatcher, StreamSource, SequenceTracker, lineWriter, yieldToEventLoop, type SourceFile } from '../tools/index.js';
import { action } from './action.js';
import { usageError } from './errors.js';
import { stopOnSignals } from './signals.js';
import { isRemote, openSourceArg, pidOption, remoteHelp, socketOption } from './source-arg.js';

interface CatFlags {
  raw?: boolean;
  json?: boolean;
  follow?: boolean;
  run?: string;
  socket?: string;
  pid?: number;
  strict?: boolean;
}

export function registerCat(program: Command): void {
  program
    .command('cat')
    .description('print a relay file or a recorded file, decoding klog records (or --raw bytes)')
    .argument(
      '[file]',
      'a recorded or dumped file (- reads standard input), hostfs:/path/file0 of a --run producer, or unix:SOCKET:/path/file0 (another process); with --socket / --pid: the relay path, like /trace/cpu0',
    )
    .option('--raw', 'write the bytes as they are, no decoding')
    .option('--json', 'JSON lines instead of text')
    .option('-f, --follow', 'live relay file: keep reading until the producer closes the channel')
    .option('--run <module>', 'load this producer module in this process first')
    .option('--strict', 'exit with status 3 when records were lost or the file ends inside a record')
    .addOption(socketOption())
    .addOption(pidOption())
    .addHelpText(
      'after',
      `
Without -f a live relay file is read until it is empty (a consuming read:
what cat prints is gone from the buffer); -f follows it until the producer
closes the channel.
${remoteHelp('relayfs cat --socket /tmp/relayfs-4242/root.sock -f /trace/cpu0')}`,
    )
    .action(action('cat', runCat));
}

async function runCat(spec: string | undefined, flags: CatFlags): Promise<number> {
  const remote = isRemote(spec, flags);
  if (remote && spec === undefined) throw usageError('cat prints one relay file: name it, like /trace/cpu0');
  if (spec !== undefined && !remote && !spec.startsWith('hostfs:')) {
    let isDir = false;
    try {
      isDir = statSync(spec).isDirectory();
    } catch {
      /* the source reports a missing file */
    }
    if (isDir) throw usageError(`${spec} is a directory: cat prints one file (relayfs merge ${spec} prints all of them in order)`);
  }
  const controller = new AbortController();
  const unlisten = stopOnSignals(controller);
  let file: SourceFile | null = null;
  try {
    const { source } = spec === '-' && !remote ? { source: new StreamSource(process.stdin) } : await openSourceArg(spec, flags, controller.signal);
    const entries = await source.list();
    if (entries.length !== 1) {
      const hint = remote ? 'name one of them, or record them all' : 'use merge for several';
      throw usageError(`${source.description} is not one relay file (it has ${entries.length}); ${hint}`);
    }
    file = await source.open(entries[0]!);
    const follow = source.live ? flags.follow === true : true;
    if (flags.raw) {
      await copyRaw(file, follow, controller.signal);
      return 0;
    }
    return await printRecords(file, follow, flags, controller.signal);
  } finally {
    await file?.close();
    unlisten();
  }
}

async function copyRaw(file: SourceFile, follow: boolean, signal: AbortSignal): Promise<void> {
  let ending = false;
  let idle = false;
  for (;;) {
    const chunk = await file.read();
    if (chunk.length > 0) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
      idle = false;
      continue;
    }
    if (ending || !follow || signal.aborted) return;
    if (idle) await yieldToEventLoop();
    // After a hangup one more read takes what arrived just before it.
    const p = await file.poll(50);
    ending = p.hangup;
    idle = p.readable;
  }
}

async function printRecords(file: SourceFile, follow: boolean, flags: CatFlags, signal: AbortSignal): Promise<number> {
  const lines = lineWriter(flags.json ? 'json' : 'text');
  const out = new LineBatcher(process.stdout);
  const tracker = new SequenceTracker();
  const reader = new KlogReader(file, { follow, signal });
  for (;;) {
    let rec = reader.take();
    if (rec === undefined) {
      // Everything decoded so far is printed before waiting for more: -f shows records as they come.
      await out.flush();
      const next = await reader.next();
      if (!next) break;
      rec = next;
    }
    const ev = tracker.see(rec);
    if (ev && ev.kind !== 'restart') await out.write(lines.event(ev));
    await out.write(lines.record(rec));
  }
  if (reader.tail) await out.write(lines.truncated(file.entry.path, reader.tail));
  await out.flush();
  if (reader.tail) {
    process.stderr.write(`relayfs cat: warning: ${file.entry.path}: last record cut short at byte ${reader.tail.offset} (${reader.tail.bytes} bytes there), left out\n`);
  }
  const lost = tracker.summary().reduce((n, w) => n + w.lost, 0);
  return flags.strict && (lost > 0 || reader.tail) ? 3 : 0;
}
