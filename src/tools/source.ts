/**
 * What the consumer tools (record, cat, top) need from a set of relay files,
 * wherever they live: list the files, open one, then read / poll / stats.
 * Implemented for the in-process host filesystem (hostfs-source.ts), for
 * files on disk (disk-source.ts) and for another process's relay files over
 * its socket (remote-source.ts).
 *
 * Every method may be asynchronous so that a remote source can implement it.
 */
import type { BufferStats } from '../buffer/index.js';
import { RelayError, type SourceErrorCode } from '../errors.js';

/** A missing or unusable source, reported in one line. */
export class SourceError extends RelayError {
  declare readonly code: SourceErrorCode;
  constructor(code: SourceErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'SourceError';
  }
}

/** One relay file of a source: the N-th buffer of a channel. */
export interface SourceEntry {
  /** File name, e.g. "cpu0": the output name for record. */
  name: string;
  /** Path inside the source (for messages). */
  path: string;
  /** The buffer index (the N in baseN). */
  cpu: number;
}

export interface SourcePoll {
  /** A finished sub-buffer is ready. */
  readable: boolean;
  /** The producer closed the channel (or the file ended): read what is left, then stop. */
  hangup: boolean;
}

export interface SourceFile {
  readonly entry: SourceEntry;
  /** Sub-buffer geometry, when the source knows it (a live relay file does, a disk file does not). */
  readonly subbufSize: number | null;
  readonly nSubbufs: number | null;
  /** Copies out and consumes what is readable now, padding removed; empty when nothing is. */
  read(): Promise<Uint8Array>;
  /** Waits for a sub-buffer boundary, flush or close, or timeoutMs. */
  poll(timeoutMs: number): Promise<SourcePoll>;
  /** Per-buffer counters; null when the source keeps none. */
  stats(): Promise<BufferStats | null>;
  /** Bytes a read would return now (0 when unknown). */
  available(): Promise<number>;
  close(): Promise<void>;
  /** Finished data only: the next read starts at this byte (ship resumes a file from what a stream has). */
  seek?(offset: number): Promise<void>;
  /**
   * Live data that the source can keep until released (a producer's kept
   * window, docs/remote-protocol.md): from now on the source keeps what
   * reads return until release(). Bytes below `offset` are released, and the
   * next read starts there (null: at the first byte not released). Returns
   * the offset where the next read starts: higher than asked when bytes had
   * been released already, lower when `offset` is beyond what was ever read.
   */
  keep?(offset: number | null): Promise<number>;
  /** Kept data: the bytes below `offset` are stored safely; the source may forget them. */
  release?(offset: number): void;
}

export interface RelaySource {
  /** How the user named it, for messages: "hostfs:/demo", "./out". */
  readonly description: string;
  /** True for a live channel (data keeps coming until hangup); false for finished files. */
  readonly live: boolean;
  list(): Promise<SourceEntry[]>;
  open(entry: SourceEntry): Promise<SourceFile>;
}

/** Splits "cpu12" into base "cpu" and index 12 (null when the name does not end in a number). */
export function splitBufferName(name: string): { base: string; cpu: number } | null {
  const m = /^(.*?)(\d+)$/.exec(name);
  return m ? { base: m[1]!, cpu: Number(m[2]) } : null;
}
