#!/usr/bin/env node
/**
 * The relayfs command line: commander wiring only; each subcommand lives in
 * its own module.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import '../threads.js';
import { registerBench } from './bench.js';
import { registerCat } from './cat.js';
import { registerDemo } from './demo.js';
import { reportError } from './errors.js';
import { registerExport } from './export.js';
import { registerMerge } from './merge.js';
import { registerRecord } from './record.js';
import { registerShip } from './ship.js';
import { registerTop } from './top.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

// Last line of defence: whatever escapes still ends as one line, not a stack trace.
process.on('uncaughtException', (err) => {
  reportError('', err);
  process.exit(process.exitCode ?? 1);
});

const program = new Command('relayfs')
  .description('the Linux kernel relay interface for JavaScript: record, merge and watch relay channels and klog traces')
  .version(version())
  .enablePositionalOptions()
  .showSuggestionAfterError(true);

registerDemo(program);
registerRecord(program);
registerMerge(program);
registerExport(program);
registerCat(program);
registerTop(program);
registerShip(program);
registerBench(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  reportError('', err);
}
// Output written to a pipe that is full is still queued: wait for it before exiting.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
// A --run producer or a stray timer must not keep a finished command alive.
process.exit(process.exitCode ?? 0);
