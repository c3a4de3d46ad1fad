/**
 * klog: trace statements that can sit anywhere, in any thread, and cost one
 * check of a module-level variable while no klog handler is registered (the
 * relay-apps klog.patch: klog, klog_raw, register_klog_handler,
 * unregister_klog_handler).
 *
 * Handlers are per thread: module state is per thread in JavaScript, so each
 * thread that traces registers a handler (see klogAttach for workers). With a
 * relay channel as handler, every call writes exactly one record into the
 * calling thread's buffer with one relayWrite, so records never straddle
 * sub-buffers.
 */
import { format as utilFormat } from 'node:util';
import { threadId } from 'node:worker_threads';
import { relayWrite } from '../channel/api.js';
import { RelayChannel } from '../channel/channel.js';
import { RelayError, describe, invalidArg } from '../errors.js';
import '../threads.js';
import { klogNow } from './clock.js';
import { writeHeader } from './encoder.js';
import { KLOG_FLAG_TRUNCATED, KLOG_HEADER_SIZE, KLOG_NO_BUFFER, KLOG_TYPE_RAW, KLOG_TYPE_TEXT } from './format.js';
import { encodeStructuredTail } from './structured.js';

/** A function handler gets each encoded record; the bytes are reused after it returns. */
export type KlogFunctionHandler = (record: Uint8Array, length: number) => unknown;

export interface KlogHandlerOptions {
  /**
   * Largest record (header included). Longer text is cut to fit and flagged
   * truncated; longer raw data is passed on whole, so the channel drops it
   * and counts it as droppedTooBig. Default: the sub-buffer size, at most 64 KiB.
   */
  maxRecordBytes?: number;
}

/** What this thread's klog calls did since its handler was registered. */
export interface KlogStats {
  /** Records made (= the next sequence number): written + dropped. */
  records: number;
  /** Accepted by the channel (or passed to a function handler). */
  written: number;
  /** Refused by the channel: buffer full, too big, or re-entrant; counted in its stats by cause. */
  dropped: number;
  /** Text records cut to maxRecordBytes. */
  truncated: number;
  /** Calls that found the channel closed or unusable; they unregister the handler and make no record. */
  errors: number;
}

interface Scratch {
  bytes: Uint8Array;
  view: DataView;
  payload: Uint8Array;
}

interface Sink {
  chan: RelayChannel | null;
  fn: KlogFunctionHandler | null;
  main: Scratch;
  /** True while `main` holds a record being written: a nested call (from subbufStart, a custom inspect, a function handler) gets its own bytes. */
  busy: boolean;
  seq: number;
}

/** The registered handler of this thread; null means every klog call returns at once. */
let sink: Sink | null = null;

/** True while this thread has a klog handler: guard costly arguments with `if (klogEnabled)`. */
export let klogEnabled = false;

const stats: KlogStats = { records: 0, written: 0, dropped: 0, truncated: 0, errors: 0 };
const utf8 = new TextEncoder();
const DEFAULT_MAX_RECORD = 64 * 1024;

/**
 * klog(): a formatted text record (node:util format). Up to eight arguments
 * are taken without allocating anything while no handler is registered;
 * klogv takes an array for more.
 */
export function klog(format: string, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown, a6?: unknown, a7?: unknown, a8?: unknown): void {
  if (sink === null) return;
  traceText(sink, format, a1, a2, a3, a4, a5, a6, a7, a8);
}

/** klog with the arguments in an array (any number of them). */
export function klogv(format: string, args: readonly unknown[]): void {
  if (sink === null) return;
  emitText(sink, utilFormat(format, ...args));
}

/** klog_raw(): a raw record of `length` bytes of data. */
export function klogRaw(data: Uint8Array, length: number = data?.length): void {
  if (sink === null) return;
  traceRaw(sink, data, length);
}

/**
 * register_klog_handler(): from now on this thread's klog calls write
 * records to the channel (into this thread's buffer) or pass them to the
 * function. Replaces a handler already registered; numbering starts at 0.
 */
export function registerKlogHandler(handler: RelayChannel | KlogFunctionHandler, options: KlogHandlerOptions = {}): void {
  const isChannel = handler instanceof RelayChannel;
  if (!isChannel && typeof handler !== 'function') {
    throw invalidArg('registerKlogHandler needs a relay channel or a function (record, length) => void');
  }
  if (isChannel && handler.closed) throw new RelayError('ERELAY_CLOSED', 'registerKlogHandler: the channel is closed');
  const limit = isChannel ? Math.min(handler.subbufSize, DEFAULT_MAX_RECORD) : DEFAULT_MAX_RECORD;
  const max = options.maxRecordBytes ?? limit;
  if (!Number.isInteger(max) || max <= KLOG_HEADER_SIZE) {
    throw invalidArg(`maxRecordBytes must be a whole number above the ${KLOG_HEADER_SIZE}-byte header, got ${describe(max)}`);
  }
  sink = { chan: isChannel ? handler : null, fn: isChannel ? null : handler, main: makeScratch(max), busy: false, seq: 0 };
  klogEnabled = true;
  for (const key of Object.keys(stats) as (keyof KlogStats)[]) stats[key] = 0;
}

/** unregister_klog_handler(): klog calls in this thread cost one check again. */
export function unregisterKlogHandler(): void {
  sink = null;
  klogEnabled = false;
}

/** This thread's counts since its handler was registered. */
export function klogStats(): KlogStats {
  return { ...stats };
}

// ------------------------------------------------------------------ internals

function makeScratch(size: number): Scratch {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer), payload: bytes.subarray(KLOG_HEADER_SIZE) };
}

function traceText(s: Sink, format: string, a1: unknown, a2: unknown, a3: unknown, a4: unknown, a5: unknown, a6: unknown, a7: unknown, a8: unknown): void {
  // Trailing undefined arguments are taken as absent, except where the format has a directive for them.
  let n =
    a8 !== undefined
      ? 8
      : a7 !== undefined
        ? 7
        : a6 !== undefined
          ? 6
          : a5 !== undefined
            ? 5
            : a4 !== undefined
              ? 4
              : a3 !== undefined
                ? 3
                : a2 !== undefined
                  ? 2
                  : a1 !== undefined
                    ? 1
                    : 0;
  const directives = typeof format === 'string' ? countDirectives(format) : 0;
  if (directives > n) n = Math.min(directives, 8);
  let text: string;
  try {
    text = formatText(format, n, a1, a2, a3, a4, a5, a6, a7, a8);
  } catch (err) {
    // A trace statement never throws into the traced code: an argument util.format cannot render
    // (a BigInt for %j, a throwing toString) is recorded as such.
    text = `[klog: could not format the message: ${(err as Error)?.message ?? 'unknown error'}]`;
  }
  emitText(s, text);
}

function formatText(format: string, n: number, a1: unknown, a2: unknown, a3: unknown, a4: unknown, a5: unknown, a6: unknown, a7: unknown, a8: unknown): string {
  let text: string;
  switch (n) {
    case 0:
      text = typeof format === 'string' && !format.includes('%') ? format : utilFormat(format);
      break;
    case 1:
      text = utilFormat(format, a1);
      break;
    case 2:
      text = utilFormat(format, a1, a2);
      break;
    case 3:
      text = utilFormat(format, a1, a2, a3);
      break;
    case 4:
      text = utilFormat(format, a1, a2, a3, a4);
      break;
    case 5:
      text = utilFormat(format, a1, a2, a3, a4, a5);
      break;
    case 6:
      text = utilFormat(format, a1, a2, a3, a4, a5, a6);
      break;
    case 7:
      text = utilFormat(format, a1, a2, a3, a4, a5, a6, a7);
      break;
    default:
      text = utilFormat(format, a1, a2, a3, a4, a5, a6, a7, a8);
  }
  return text;
}

/** Directives of util.format that take an argument (%% takes none). */
function countDirectives(format: string): number {
  let count = 0;
  for (let i = format.indexOf('%'); i >= 0 && i < format.length - 1; i = format.indexOf('%', i + 1)) {
    const c = format.charCodeAt(i + 1);
    if (c === 37 /* % */) {
      i++;
      continue;
    }
    // s d i f j o O c
    if (c === 115 || c === 100 || c === 105 || c === 102 || c === 106 || c === 111 || c === 79 || c === 99) count++;
  }
  return count;
}

function emitText(s: Sink, text: string): void {
  const sc = acquire(s);
  try {
    const { read, written } = utf8.encodeInto(text, sc.payload);
    const cut = read < text.length;
    if (cut) stats.truncated++;
    write(s, sc, KLOG_TYPE_TEXT, written, cut ? KLOG_FLAG_TRUNCATED : 0);
  } finally {
    release(s, sc);
  }
}

function traceRaw(s: Sink, data: Uint8Array, length: number): void {
  if (!(data instanceof Uint8Array) || !Number.isInteger(length) || length < 0 || length > data.length) {
    throw invalidArg(`klogRaw needs a Uint8Array and a length from 0 to data.length, got length ${describe(length)}`);
  }
  // Too big for the scratch: build the record whole so the channel drops and counts it (or takes it, if it fits a sub-buffer).
  const sc = length > s.main.payload.length ? makeScratch(KLOG_HEADER_SIZE + length) : acquire(s);
  try {
    if (length <= 48) {
      const p = sc.payload;
      for (let i = 0; i < length; i++) p[i] = data[i]!;
    } else {
      sc.payload.set(length === data.length ? data : data.subarray(0, length));
    }
    write(s, sc, KLOG_TYPE_RAW, length, 0);
  } finally {
    release(s, sc);
  }
}

/**
 * A span or counter record (structured.ts has the layout): `head` is the
 * span id, or the counter value when `type` is a counter. For span.ts, which
 * makes the one check (klogEnabled) itself.
 */
export function emitStructured(type: number, head: number, isValue: boolean, name: string, json: string): void {
  const s = sink;
  if (s === null) return;
  const sc = acquire(s);
  try {
    const p = sc.payload;
    if (isValue) sc.view.setFloat64(KLOG_HEADER_SIZE, head, true);
    else {
      sc.view.setUint32(KLOG_HEADER_SIZE, head, true);
      sc.view.setUint32(KLOG_HEADER_SIZE + 4, 0, true);
    }
    const { length, cut } = encodeStructuredTail(p, name, json, utf8);
    if (cut) stats.truncated++;
    write(s, sc, type, length, cut ? KLOG_FLAG_TRUNCATED : 0);
  } finally {
    release(s, sc);
  }
}

function acquire(s: Sink): Scratch {
  if (s.busy) return makeScratch(s.main.bytes.length);
  s.busy = true;
  return s.main;
}

function release(s: Sink, sc: Scratch): void {
  if (sc === s.main) s.busy = false;
}

/** Fills in the header and hands the record on; the sequence number counts written and dropped records alike. */
function write(s: Sink, sc: Scratch, type: number, length: number, flags: number): void {
  const total = KLOG_HEADER_SIZE + length;
  const chan = s.chan;
  try {
    if (chan !== null) {
      const buf = chan.own ?? chan.claim();
      writeHeader(sc.view, 0, type, length, klogNow(), s.seq, threadId, buf.cpu, flags);
      if (relayWrite(chan, sc.bytes, total)) stats.written++;
      else stats.dropped++;
    } else {
      writeHeader(sc.view, 0, type, length, klogNow(), s.seq, threadId, KLOG_NO_BUFFER, flags);
      s.fn!(sc.bytes, total);
      stats.written++;
    }
  } catch (err) {
    if (chan === null) throw err; // a function handler's own error is the caller's
    fail(s, err);
    return;
  }
  s.seq = (s.seq + 1) >>> 0;
  stats.records++;
}

/**
 * A trace statement must not throw into the code it traces: a closed channel
 * (the normal end of tracing) unregisters quietly; anything else also
 * unregisters, with one process warning saying why.
 */
function fail(s: Sink, err: unknown): void {
  stats.errors++;
  if (sink === s) unregisterKlogHandler();
  if (err instanceof RelayError && err.code === 'ERELAY_CLOSED') return;
  process.emitWarning(`klog handler unregistered in thread ${threadId}: ${(err as Error)?.message ?? String(err)}`, 'KlogWarning');
}
