/** `relayfs merge`: per-buffer klog files into one stream ordered by timestamp. */
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { StreamSource, merge, type MergeSummary } from '../tools/index.js';
import { action } from './action.js';
import { usageError } from './errors.js';
import { compact, count } from './format.js';
import { createProgress } from './progress.js';

interface MergeFlags {
  json?: boolean;
  output?: string;
  losses: boolean;
  quiet?: boolean;
  strict?: boolean;
}

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('merge per-buffer files of klog records into one stream ordered by timestamp, reporting losses')
    .argument('<inputs...>', 'record output or flight-recorder dump directories, or single files; - reads standard input')
    .option('--json', 'JSON lines (kind: record, loss, missing-start, truncated, summary) instead of text')
    .option('-o, --output <file>', 'write the stream to a file instead of stdout')
    .option('--no-losses', 'leave the loss lines out of the stream (still counted in the summary)')
    .option('-q, --quiet', 'no summary line on stderr (text output)')
    .option('--strict', 'exit with status 3 when records were lost or a file ends inside a record')
    .addHelpText(
      'after',
      `
Text lines:  +SECONDS  b<buffer>/t<thread>  #<seq>  <text | raw N B hex>
Loss lines:  +SECONDS  b<buffer>/t<thread>  -- lost N records (#from..#to)
A file that ends inside a record (a crash while writing it) is reported and
the cut record left out; any other damage is an error.`,
    )
    .action(action('merge', runMerge));
}

async function runMerge(args: string[], flags: MergeFlags): Promise<number> {
  if (args.filter((a) => a === '-').length > 1) throw usageError('- (standard input) can be given once');
  const inputs = args.map((a) => (a === '-' ? new StreamSource(process.stdin) : a));
  const out: Writable = flags.output ? createWriteStream(flags.output) : process.stdout;
  // Progress only when it cannot mix with the stream itself on the terminal.
  const progress = createProgress({ json: flags.quiet || (!flags.output && process.stdout.isTTY === true) });
  const summary = await merge({
    inputs,
    format: flags.json ? 'json' : 'text',
    out,
    quietLosses: !flags.losses,
    onProgress: progress.live
      ? (p) => progress.update(`merging: ${count(p.records)} records, ${compact((p.records / Math.max(1, p.elapsedMs)) * 1000)}/s, lost ${count(p.lost)}`)
      : undefined,
  });
  progress.done();
  if (flags.json) out.write(JSON.stringify({ kind: 'summary', ...summary }) + '\n');
  if (out !== process.stdout) {
    out.end();
    await finished(out);
  }
  for (const f of summary.files) {
    if (f.truncated) process.stderr.write(`relayfs merge: warning: ${f.path}: last record cut short at byte ${f.truncated.offset} (${f.truncated.bytes} bytes there), left out\n`);
  }
  if (!flags.json && !flags.quiet) {
    process.stderr.write(summaryLine(summary));
    if (summary.origins.length > 1) {
      for (const o of summary.origins)
        process.stderr.write(`relayfs merge:   ${o.origin || '(no origin)'}: ${count(o.records)} records, lost ${count(o.lost)}, ${count(o.missingStart)} before the first kept\n`);
    }
  }
  const damaged = summary.lost > 0 || summary.truncated > 0;
  return flags.strict && damaged ? 3 : 0;
}

function summaryLine(s: MergeSummary): string {
  return `relayfs merge: ${count(s.records)} records from ${s.files.length} files, ${s.writers.length} writers; lost ${count(s.lost)} (sequence gaps), ${count(s.missingStart)} before the first kept, ${s.truncated} files cut short\n`;
}
