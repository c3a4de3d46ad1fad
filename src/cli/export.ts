/** `relayfs export`: recordings as a Chrome trace (Perfetto, chrome://tracing, DevTools). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { writeChromeTraceFile, type ChromeExportSummary } from '../tools/index.js';
import { action } from './action.js';
import { bar, bytes, count } from './format.js';
import { createProgress } from './progress.js';

interface ExportFlags {
  format: 'chrome';
  output: string;
  json?: boolean;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write recordings as a Chrome trace: a track per thread, spans, counters, loss markers')
    .argument('<inputs...>', 'record output or flight-recorder dump directories (each becomes a process), or single files')
    .addOption(new Option('--format <format>', 'output format').choices(['chrome']).default('chrome'))
    .requiredOption('-o, --output <file>', 'trace file to write (.json, or .json.gz for gzip)')
    .option('--json', 'no progress; print the summary as JSON')
    .addHelpText(
      'after',
      `
Open the file at https://ui.perfetto.dev (Open trace file), in chrome://tracing,
or in the Chrome DevTools Performance panel (Load profile). Timestamps are
microseconds on the klog clock (CLOCK_MONOTONIC), the same in every thread and
process. Large recordings are streamed: memory stays bounded.`,
    )
    .action(action('export', runExport));
}

async function runExport(inputs: string[], flags: ExportFlags): Promise<number> {
  const progress = createProgress(flags);
  const summary = await writeChromeTraceFile(
    inputs,
    flags.output,
    progress.live
      ? (p) => progress.update(`exporting ${bar(p.totalBytes ? p.bytes / p.totalBytes : 0)} ${bytes(p.bytes)} of ${bytes(p.totalBytes)}, ${count(p.events)} events`)
      : undefined,
  );
  progress.done();
  for (const f of summary.files) {
    if (f.truncated) process.stderr.write(`relayfs export: warning: ${f.path}: last record cut short at byte ${f.truncated.offset} (${f.truncated.bytes} bytes there), left out\n`);
  }
  if (flags.json) process.stdout.write(JSON.stringify({ output: flags.output, ...summary }) + '\n');
  else process.stderr.write(summaryLine(flags.output, summary));
  return 0;
}

function summaryLine(out: string, s: ChromeExportSummary): string {
  return (
    `relayfs export: ${out}: ${count(s.records)} records from ${s.files.length} files on ${s.threads} thread tracks; ` +
    `${count(s.spans)} spans (${count(s.unfinishedSpans)} unfinished), ${count(s.counters)} counter samples, ` +
    `${count(s.lost)} records lost (${s.lossMarkers} markers), ${s.dropMarkers} buffers with channel drops\n` +
    `open it at https://ui.perfetto.dev, in chrome://tracing or in the DevTools Performance panel\n`
  );
}
