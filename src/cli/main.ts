#!/usr/bin/env node
/**
 * The relayfs command line: commander wiring only; each subcommand lives in
 * its own module.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import '../threads.js';
import { benchAvailable, registerBench } from './bench.js';
import { registerCat } from './cat.js';
import { takeLaunchCommand } from './launch.js';
import { registerDemo } from './demo.js';
import { isBrokenPipe, reportError } from './errors.js';
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
// `relayfs merge DIR | head`: when the reader goes away, stop quietly with status 0, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (!isBrokenPipe(err)) throw err;
    process.exit(0);
  });
}

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
if (benchAvailable()) registerBench(program);

// Commander's own usage errors in the same style as ours: "relayfs <command>: <what>", status 2.
for (const command of [program, ...program.commands]) {
  const name = command === program ? '' : ` ${command.name()}`;
  command.exitOverride().configureOutput({
    outputError: (text, write) =>
      write(
        `relayfs${name}: ${text
          .replace(/^error: /, '')
          .replace(/\n\((Did you mean .*\?)\)/, ' ($1)')
          .trim()}\n`,
      ),
  });
}

try {
  await program.parseAsync(takeLaunchCommand(process.argv));
} catch (err) {
  if (err instanceof CommanderError)
    process.exitCode = err.exitCode === 0 ? 0 : 2; // --help and --version exit 0
  else reportError('', err);
}
// Output written to a pipe that is full is still queued: wait for it before exiting.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
// A --run producer or a stray timer must not keep a finished command alive.
process.exit(process.exitCode ?? 0);
