/**
 * The consumer thread of a pino destination: drains the channel in rounds
 * (drain.ts) while the process runs, into a file descriptor or a pino
 * transport target (a pino-abstract-transport module, loaded here as
 * pino.transport's worker does). It sleeps until a sub-buffer boundary or a
 * flush in any buffer, or `latency` ms.
 *
 * It holds the drain lock only around a synchronous round, so the exit
 * drain in the main thread (or flushSync in any thread) can take over at any
 * point without a line being only in this thread's memory. Lines handed to
 * a target are the target's from then on, as with pino.transport().
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { threadId, workerData } from 'node:worker_threads';
import { relayAttachSync } from '../channel/api.js';
import type { RelayChannel } from '../channel/channel.js';
import { invalidArg } from '../errors.js';
import '../threads.js';
import type { PinoTarget, RelayDestinationHandle } from './destination.js';
import { Drainer, fdSink, type LineSink } from './drain.js';
import { CONSUMER_DONE, PinoState } from './state.js';

interface ConsumerData {
  handle: RelayDestinationHandle;
  latency: number;
  lateness: number;
  target: PinoTarget | null;
}

const data = workerData as ConsumerData;
const chan = relayAttachSync(data.handle.channel);
const state = new PinoState(data.handle.state, data.handle.staging);
const drainer = new Drainer(chan, state);
const me = threadId + 1;

/**
 * The cut of the next round: the ticket counter as it was `lateness` ms ago
 * (a few samples of it are kept), so a line gets that long to be published.
 */
const samples: { at: number; ticket: number }[] = [];
function cut(): number {
  const now = performance.now();
  samples.push({ at: now, ticket: state.nextTicket() });
  let c = -Infinity;
  while (samples.length > 0 && samples[0]!.at <= now - data.lateness) c = samples.shift()!.ticket;
  if (c !== -Infinity) samples.unshift({ at: now - data.lateness, ticket: c });
  return c;
}

/** One round if the drain lock is free; null when someone else drains (or the process is ending). */
function tryRound(sink: LineSink): { read: number; staged: number } | null {
  if (!state.tryLock(me)) return null;
  try {
    if (state.stopping) return null;
    return drainer.round(sink, cut());
  } finally {
    state.unlock(me);
  }
}

/** Until a sub-buffer is ready or a flush happens in any buffer of the channel, or ms. */
async function idle(c: RelayChannel, ms: number): Promise<void> {
  const bufs = c.buffers.slice(0, Math.max(1, c.claimed));
  let timer: NodeJS.Timeout | undefined;
  // The timer also keeps this thread alive: Atomics.waitAsync alone does not.
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([timeout, ...bufs.map((b) => b.reader.waitReady(1, b.reader.forcedEvents(), ms))]);
  clearTimeout(timer);
}

async function runFd(fd: number): Promise<void> {
  const sink = fdSink(fd);
  while (!state.stopping) {
    const r = tryRound(sink);
    if (r && r.read > 0) continue;
    await idle(chan, r && r.staged > 0 ? data.lateness : data.latency);
  }
}

async function runTarget(spec: PinoTarget): Promise<void> {
  let mod = (await import(spec.target)) as unknown;
  // CommonJS and transpiled modules can nest the function in one or two "default"s.
  for (let i = 0; i < 2 && typeof mod === 'object' && mod !== null; i++) mod = (mod as { default?: unknown }).default;
  if (typeof mod !== 'function') throw invalidArg(`${spec.target}: a pino transport target exports a function`);
  const stream = (await (mod as (opts: unknown) => unknown)(spec.options)) as Writable;
  const batch: Buffer[] = [];
  const sink: LineSink = (d) => void batch.push(Buffer.from(d));
  const hand = async () => {
    for (const chunk of batch.splice(0)) if (!stream.write(chunk)) await once(stream, 'drain');
  };
  while (!state.stopping) {
    const r = tryRound(sink);
    await hand();
    if (r && r.read > 0) continue;
    await idle(chan, r && r.staged > 0 ? data.lateness : Math.min(data.latency, 50));
  }
  // Ending (exit or end()): the rest, then the target's own end.
  state.lock(me, 2000);
  try {
    drainer.drainAll(sink);
  } finally {
    state.unlock(me);
  }
  await hand();
  const finished = once(stream, 'close').catch(() => undefined);
  stream.end();
  await finished;
  state.set(CONSUMER_DONE, 1);
}

if (data.target) await runTarget(data.target);
else await runFd(data.handle.fd);
