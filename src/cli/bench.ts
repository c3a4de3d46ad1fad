/** `relayfs bench`: runs the benchmarks (dist/bench/run.js) with the arguments passed through. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { action } from './action.js';
import { CliError } from './errors.js';

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

/** The benchmarks live in a clone (built), not in the published package: there is no `bench` command there. */
export function benchAvailable(): boolean {
  return existsSync(RUNNER);
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks: node dist/bench/run.js with the arguments passed through (--help shows them)')
    .helpOption(false) // --help goes to the bench runner, which knows its flags
    .allowUnknownOption()
    .passThroughOptions() // everything after `bench` belongs to the runner
    .allowExcessArguments()
    .argument('[args...]', 'arguments for the bench runner')
    .action(action('bench', runBench));
}

async function runBench(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('relayfs bench [flags]: runs the benchmarks with these flags of the bench runner:\n');
  }
  const child = spawn(process.execPath, [RUNNER, ...args], { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new CliError('ERELAY_FAILED', `cannot run the bench runner: ${err.message}`)));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  } finally {
    process.removeListener('SIGINT', forward);
    process.removeListener('SIGTERM', forward);
  }
}
