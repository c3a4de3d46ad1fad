/**
 * --run MODULE: loads a producer into this process, so that record, cat and
 * top can reach its relay files in the in-process host filesystem (a
 * producer in another process is read with --socket / --pid instead). The module either opens its channels when
 * imported, or exports a default function that gets a ProducerContext; that
 * function may return a promise that settles when the producer is done.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hostfs, type HostFs } from '../hostfs/hostfs.js';
import type { RelaySource } from '../tools/index.js';
import { messageOf } from '../errors.js';
import { CliError } from './errors.js';

export interface ProducerContext {
  /** The host filesystem the consumer reads. */
  fs: HostFs;
  /** Aborted when the command stops (SIGINT, --duration): stop writing and close the channel. */
  signal: AbortSignal;
}

export interface RunningProducer {
  /** Settles when the producer function's promise does (at once for a module without one). */
  done: Promise<void>;
}

export async function runProducer(spec: string, signal: AbortSignal): Promise<RunningProducer> {
  const url = /^[a-z][a-z0-9+.-]+:/i.test(spec) && !/^[a-z]:/i.test(spec) ? spec : pathToFileURL(resolve(spec)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ERR_MODULE_NOT_FOUND') throw new CliError('ERELAY_USAGE', `--run ${spec}: module not found`, { cause: err });
    throw new CliError('ERELAY_PRODUCER_FAILED', `--run ${spec}: failed to load: ${messageOf(err)}`, { cause: err });
  }
  if (typeof mod.default !== 'function') return { done: Promise.resolve() };
  const ctx: ProducerContext = { fs: hostfs, signal };
  try {
    const result = (mod.default as (ctx: ProducerContext) => unknown)(ctx);
    return { done: Promise.resolve(result).then(() => undefined) };
  } catch (err) {
    throw new CliError('ERELAY_PRODUCER_FAILED', `--run ${spec}: the producer failed: ${messageOf(err)}`, { cause: err });
  }
}

/** Waits until the source lists at least one relay file (the producer may open its channel a little later). */
export async function waitForFiles(source: RelaySource, timeoutMs: number, failed?: Promise<never>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      if ((await source.list()).length > 0) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new CliError('ERELAY_TIMEOUT', `${source.description}: no relay files after ${timeoutMs} ms${last ? ` (${messageOf(last)})` : ''}`);
    }
    await Promise.race([new Promise((r) => setTimeout(r, 20)), failed ?? new Promise(() => {})]);
  }
}
