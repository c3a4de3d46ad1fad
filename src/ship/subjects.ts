/**
 * Where shipped bytes go and how they are named: one subject per buffer,
 * `<prefix>.<host>.<producer>.<channel>.<buffer>`, its counters on
 * `<that>.counters`, and a message id from (producer, buffer, byte offset),
 * so the same bytes always get the same id (JetStream's de-duplication).
 */
import type { BufferStats } from '../buffer/index.js';

/** Message headers. */
export const H_KIND = 'Relayfs-Kind'; // "data" or "counters"
export const H_OFFSET = 'Relayfs-Offset'; // byte offset of the data in the buffer's consumed stream
export const H_FILE = 'Relayfs-File'; // file name to rebuild (cpu0...)
export const H_KLOG = 'Relayfs-Klog'; // "1" when the data is whole klog records
export const COUNTERS_TOKEN = 'counters';

export interface BufferAddress {
  prefix: string;
  host: string;
  producer: string;
  channel: string;
  buffer: number;
}

/** A subject token: letters, digits, '-' and '_' (dots, wildcards and spaces would change the subject). */
export function subjectToken(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]/g, '_');
  return t.length ? t : '_';
}

/** The channel token of a buffer file name: "cpu3" → "cpu", "app-trace0" → "app-trace". */
export function channelToken(fileName: string): string {
  const base = fileName.replace(/\d+$/, '').replace(/[-_.]$/, '');
  return subjectToken(base || 'buf');
}

export function dataSubject(a: BufferAddress): string {
  return `${a.prefix}.${a.host}.${a.producer}.${a.channel}.${a.buffer}`;
}

export function countersSubject(a: BufferAddress): string {
  return `${dataSubject(a)}.${COUNTERS_TOKEN}`;
}

/** The JetStream message id of the bytes of buffer `a` that start at `offset`. */
export function messageId(a: BufferAddress, offset: number): string {
  return `${a.host}.${a.producer}.${a.channel}.${a.buffer}@${offset}`;
}

/** The address of a shipped subject, or null when it is not one of ours. */
export function parseSubject(prefix: string, subject: string): (BufferAddress & { counters: boolean }) | null {
  if (!subject.startsWith(`${prefix}.`)) return null;
  const t = subject.slice(prefix.length + 1).split('.');
  const counters = t.length === 5 && t[4] === COUNTERS_TOKEN;
  if (t.length !== 4 && !counters) return null;
  const buffer = Number(t[3]);
  if (!Number.isInteger(buffer) || buffer < 0) return null;
  return { prefix, host: t[0]!, producer: t[1]!, channel: t[2]!, buffer, counters };
}

/** The body of a counters message (JSON): the buffer's relayfs.json entry, as the shipper sees it. */
export interface ShippedCounters {
  kind: 'relayfs-counters';
  version: 1;
  host: string;
  producer: string;
  channel: string;
  buffer: number;
  file: string;
  source: string;
  /** The last counters of this shipper run: the source ended or shipping stopped. */
  final: boolean;
  /** Why shipping ended ("hangup", "end", "SIGINT", "error"...), with final. */
  reason: string | null;
  at: string;
  /** The channel's counters (written, drops by cause, padding...); null for a source that keeps none. */
  stats: BufferStats | null;
  /** Byte offsets of this buffer's consumed stream that are in the stream: [firstOffset, endOffset). */
  firstOffset: number;
  endOffset: number;
  /**
   * Bytes consumed from the buffer that never reached the stream: read by a
   * shipper that was killed before the server had them (found by the next
   * shipper: the producer's bytesRead beyond the stream's end).
   */
  lostInTransit: number;
  /** klog records larger than the server's max_payload: not shipped. */
  tooBig: { records: number; bytes: number };
  /** Nanoseconds to add to a klog timestamp (the monotonic clock of this machine) for wall time, as a decimal string. */
  monotonicToWallNs: string;
}

/** The offset between this machine's monotonic clock (klog timestamps) and wall time, in ns. */
export function monotonicToWallNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}
