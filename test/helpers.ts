/** Shared test helpers: channels over a private host filesystem, and self-checking messages. */
import type { Worker } from 'node:worker_threads';
import { HostFs, hostfsCallbacks, relayOpen, type RelayCallbacks, type RelayChannel, type RelayOpenOptions } from '../src/index.js';

/** A generous deadline for waiting on an event: long enough for a loaded machine, short enough to fail rather than hang. */
export const DEADLINE_MS = 60_000;

/** Resolves when check() holds, looking every few ms; rejects with `what` after the deadline. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, deadlineMs = DEADLINE_MS): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Listens to a worker from the start: its first message, and its exit code.
 * A worker that posts and exits at once can have its message and 'exit'
 * delivered in the same tick, so 'exit' must be listened for before the
 * message is awaited. `message` rejects if the worker fails or exits first.
 */
export function watchWorker<T>(worker: Worker): { message: Promise<T>; exit: Promise<number> } {
  const exit = new Promise<number>((resolve, reject) => {
    worker.once('exit', resolve);
    worker.once('error', reject);
  });
  const message = new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited (code ${code}) without a message`)));
  });
  exit.catch(() => {}); // reported through `message` or awaited by the test
  return { message, exit };
}

/**
 * Every message of a worker, in order, from the start. Awaiting
 * `once(worker, 'message')` twice loses the second message when both arrive
 * in one turn of the event loop (a loaded machine): they are emitted one
 * after the other before the second listener is attached.
 */
export function workerInbox(worker: Worker): { next(what: string, deadlineMs?: number): Promise<unknown> } {
  const queue: unknown[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  worker.on('message', (m) => (queue.push(m), wake?.()));
  worker.once('error', (e) => ((failure = e), wake?.()));
  worker.once('exit', (code) => ((failure ??= new Error(`worker exited (code ${code})`)), wake?.()));
  return {
    async next(what, deadlineMs = DEADLINE_MS) {
      const end = Date.now() + deadlineMs;
      while (queue.length === 0) {
        if (failure) throw failure;
        if (Date.now() > end) throw new Error(`no ${what} from the worker within ${deadlineMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, end - Date.now()) + 1);
          wake = () => (clearTimeout(timer), (wake = null), resolve());
        });
      }
      return queue.shift();
    },
  };
}

let fsCounter = 0;

/** A fresh host filesystem per test, so tests never see each other's files. */
export function freshFs(): HostFs {
  return HostFs.get(`test-${process.pid}-${fsCounter++}`);
}

export interface OpenArgs {
  base?: string | null;
  subbufSize?: number;
  nSubbufs?: number;
  callbacks?: Partial<RelayCallbacks>;
  options?: RelayOpenOptions;
  fs?: HostFs;
  privateData?: unknown;
}

/** relayOpen with host filesystem callbacks (plus any extra callbacks) on a fresh filesystem. */
export function openChannel(args: OpenArgs = {}): { chan: RelayChannel; fs: HostFs } {
  const fs = args.fs ?? freshFs();
  const chan = relayOpen(
    args.base === undefined ? 'cpu' : args.base,
    null,
    args.subbufSize ?? 64,
    args.nSubbufs ?? 4,
    { ...hostfsCallbacks(fs), ...args.callbacks },
    args.privateData,
    { buffers: 1, ...args.options },
  );
  return { chan, fs };
}

/** n bytes whose first byte is `tag` and the rest a pattern from it. */
export function bytes(n: number, tag = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (tag + i * 7) & 0xff;
  b[0] = tag & 0xff;
  return b;
}

/** The spec's sub-buffer header: the padding of the previous sub-buffer, stored in its first 4 bytes. */
export function writePaddingHeader(prev: Uint8Array | null, prevPadding: number): void {
  if (prev) new DataView(prev.buffer, prev.byteOffset, 4).setUint32(0, prevPadding, true);
}

// Self-checking messages for concurrency tests:
// [writer u32][seq u32][length u32][checksum u32][payload ...]
export const HEADER = 16;

export function fillMessage(target: Uint8Array, writer: number, seq: number, length: number): void {
  const view = new DataView(target.buffer, target.byteOffset, length);
  view.setUint32(0, writer, true);
  view.setUint32(4, seq, true);
  view.setUint32(8, length, true);
  let sum = (writer * 31 + seq) >>> 0;
  for (let i = HEADER; i < length; i++) {
    const v = (seq * 13 + i * 3 + writer) & 0xff;
    target[i] = v;
    sum = (sum * 33 + v) >>> 0;
  }
  view.setUint32(12, sum, true);
}

export interface Parsed {
  writer: number;
  seq: number;
  length: number;
}

/** Parses whole messages; throws on a torn or corrupt one. */
export function parseMessages(data: Uint8Array, into: Parsed[]): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  while (at < data.length) {
    if (data.length - at < HEADER) throw new Error(`torn message header at ${at} of ${data.length}`);
    const writer = view.getUint32(at, true);
    const seq = view.getUint32(at + 4, true);
    const length = view.getUint32(at + 8, true);
    if (length < HEADER || at + length > data.length) throw new Error(`bad length ${length} at ${at} (writer ${writer} seq ${seq})`);
    let sum = (writer * 31 + seq) >>> 0;
    for (let i = HEADER; i < length; i++) {
      const v = data[at + i]!;
      if (v !== ((seq * 13 + i * 3 + writer) & 0xff)) throw new Error(`corrupt payload writer ${writer} seq ${seq} byte ${i}`);
      sum = (sum * 33 + v) >>> 0;
    }
    if (view.getUint32(at + 12, true) !== sum) throw new Error(`bad checksum writer ${writer} seq ${seq}`);
    into.push({ writer, seq, length });
    at += length;
  }
}
