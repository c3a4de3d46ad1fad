/**
 * `relayfs record -o DIR -- node app.js`: starts the program with its relay
 * files set up by launch-preload.ts (through --import in NODE_OPTIONS), and
 * gives record the program's relay files to follow, over its socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { defaultSocketPath } from '../remote/socket-dir.js';
import { RemoteSource } from '../tools/index.js';
import { LAUNCH_ATTACHED, LAUNCH_DONE, LAUNCH_ENV } from './launch-preload.js';
import { waitForFiles } from './run-module.js';
import { CliError, usageError } from './errors.js';

const PRELOAD = new URL('./launch-preload.js', import.meta.url).href;

let launchCommand: string[] | null = null;

/** Takes `-- CMD ARGS...` off the command line of `relayfs record`; commander sees the rest. */
export function takeLaunchCommand(argv: string[]): string[] {
  const at = argv.indexOf('--');
  if (argv[2] !== 'record' || at < 0) return argv;
  launchCommand = argv.slice(at + 1);
  if (launchCommand.length === 0) throw usageError('record: nothing to run after --');
  return argv.slice(0, at);
}

export function launchRequested(): boolean {
  return launchCommand !== null;
}

/** Tells the program that the recording follows its files: it may close its channel once it is done. */
export function attachedToLaunched(launched: Launched): void {
  if (launched.child.connected) launched.child.send(LAUNCH_ATTACHED, () => {});
}

/** Tells the program that its channel is drained, so it may end. */
export function releaseLaunched(launched: Launched): void {
  if (launched.child.connected) launched.child.send(LAUNCH_DONE, () => {});
}

export interface Launched {
  child: ChildProcess;
  source: RemoteSource;
  /** The program's exit status (128 + signal number when a signal ended it). */
  exited: Promise<number>;
}

export async function launch(): Promise<Launched> {
  const [cmd, ...args] = launchCommand!;
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --import=${PRELOAD}`.trim();
  const child = spawn(cmd!, args, { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: nodeOptions, [LAUNCH_ENV]: '1' } });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new CliError('ERELAY_PRODUCER_FAILED', `cannot run ${cmd}: ${err.message}`, { cause: err })));
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 2)));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    exited.catch(reject);
  });
  let gone = false;
  const ended = exited.then((code) => {
    gone = true;
    throw new CliError('ERELAY_PRODUCER_FAILED', `${cmd} exited (status ${code}) before its relay files appeared: is it a Node.js program?`);
  });
  ended.catch(() => {});
  // The socket appears once the preload has run, before the program's own code.
  const socketPath = defaultSocketPath(child.pid!);
  for (const deadline = Date.now() + 30_000; !existsSync(socketPath);) {
    if (gone) await ended;
    if (Date.now() > deadline) throw new CliError('ERELAY_TIMEOUT', `${cmd}: no relay files after 30 s (is it a Node.js program?)`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const source = new RemoteSource({ socketPath, path: '/' });
  source.producerEndsWith(exited); // once the program has exited, its lost connection is the end of its data
  await waitForFiles(source, 30_000, ended);
  return { child, source, exited };
}
