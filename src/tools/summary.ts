/**
 * The sidecar file (relayfs.json) that record and the flight recorder write
 * beside the per-buffer files: what each buffer wrote, what reached the file,
 * and what was lost, by cause. Losses live here, not only on a terminal.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { BufferStats } from '../buffer/index.js';

export const SIDECAR_NAME = 'relayfs.json';

export interface BufferDrops {
  /** Refused because the buffer was full (no-overwrite mode). */
  full: number;
  /** Larger than a sub-buffer. */
  tooBig: number;
  /** Written from inside subbufStart of the same buffer. */
  reentrant: number;
  /** Overwritten before they were read (overwrite mode). */
  overwritten: number;
  /** Sub-buffers overwritten (overwrite mode). */
  overwrittenSubbufs: number;
}

export interface BufferSummary {
  name: string;
  cpu: number;
  /** The output file, relative to the sidecar. */
  file: string;
  /** Bytes in the file. */
  bytes: number;
  /** klog records in the file; null when the data is not klog records. */
  records: number | null;
  /** Messages the channel accepted (the core's messagesWritten); null without counters. */
  written: number | null;
  /** Messages lost, by cause (from the channel's counters). */
  drops: BufferDrops | null;
  /** Sum of drops. */
  lost: number | null;
  /**
   * Messages accepted but not in the file: written after the last read,
   * because the producer was still writing when recording stopped
   * (written - overwritten - records; klog data only).
   */
  unread: number | null;
  /** Sub-buffer padding that read() removed. */
  paddingRemoved: number | null;
  /** The channel's counters at the end, as they were. */
  stats: BufferStats | null;
}

export interface Totals {
  bytes: number;
  records: number | null;
  written: number | null;
  lost: number | null;
  unread: number | null;
}

export interface Sidecar {
  kind: 'record' | 'flight-dump' | 'pino';
  /** Version of this file's layout. */
  version: 1;
  source: string;
  startedAt: string;
  endedAt: string | null;
  /** Longest a record waits before it reaches its file (ms), for record. */
  latencyMs: number | null;
  /** Why it ended: "stopped", "SIGINT", "SIGTERM", "hangup" (the producer closed the channel), "exit", "uncaughtException", "on-demand"... null while running. */
  reason: string | null;
  /** True once every file was flushed to disk and closed. */
  complete: boolean;
  /** An error that ended recording early. */
  error?: string;
  warnings: string[];
  buffers: BufferSummary[];
  totals: Totals;
}

/** Fills in the derived fields of a buffer's summary from its counters. */
export function summarizeBuffer(base: { name: string; cpu: number; file: string; bytes: number; records: number | null }, stats: BufferStats | null): BufferSummary {
  if (!stats) return { ...base, written: null, drops: null, lost: null, unread: null, paddingRemoved: null, stats: null };
  const drops: BufferDrops = {
    full: stats.droppedFull,
    tooBig: stats.droppedTooBig,
    reentrant: stats.droppedReentrant,
    overwritten: stats.messagesOverwritten,
    overwrittenSubbufs: stats.subbufsOverwritten,
  };
  const lost = drops.full + drops.tooBig + drops.reentrant + drops.overwritten;
  const unread = base.records === null ? null : Math.max(0, stats.messagesWritten - stats.messagesOverwritten - base.records);
  return { ...base, written: stats.messagesWritten, drops, lost, unread, paddingRemoved: stats.paddingBytes, stats };
}

/**
 * Why messages the channel accepted are not in the file, from the channel's
 * byte counters: read out of the buffer but not into this file (another
 * reader consumed them), or never read at all (written after the last read).
 */
export function unreadWarning(b: BufferSummary): string | null {
  if (!b.unread || !b.stats) return null;
  const s = b.stats;
  const elsewhere = Math.max(0, s.bytesRead - b.bytes);
  const left = Math.max(0, s.bytesWritten - s.bytesRead - s.bytesOverwritten);
  const causes: string[] = [];
  if (elsewhere > 0) {
    causes.push(`${elsewhere} bytes were consumed by another reader (relayfs cat, a second record), or were in flight from another process when recording stopped`);
  }
  if (left > 0) causes.push(`${left} bytes were written after the last read (the producer was still writing when recording stopped)`);
  if (causes.length === 0) causes.push('the counters do not say why');
  return `${b.name}: ${b.unread} messages are not in the file: ${causes.join('; ')}`;
}

export function totalsOf(buffers: readonly BufferSummary[]): Totals {
  const sum = (pick: (b: BufferSummary) => number | null): number | null => (buffers.some((b) => pick(b) === null) ? null : buffers.reduce((n, b) => n + pick(b)!, 0));
  return {
    bytes: buffers.reduce((n, b) => n + b.bytes, 0),
    records: sum((b) => b.records),
    written: sum((b) => b.written),
    lost: sum((b) => b.lost),
    unread: sum((b) => b.unread),
  };
}

/** Writes the sidecar atomically (temporary file, fsync, rename): a reader never sees half of it. */
export async function writeSidecar(dir: string, sidecar: Sidecar): Promise<string> {
  const path = join(dir, SIDECAR_NAME);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(sidecar, null, 2) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  return path;
}

/** writeSidecar for process exit handlers, where nothing asynchronous runs. */
export function writeSidecarSync(dir: string, sidecar: Sidecar): string {
  const path = join(dir, SIDECAR_NAME);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(sidecar, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return path;
}

/** Writes chunks to a new file and flushes it to disk, synchronously. */
export function writeFileDurableSync(path: string, chunks: readonly Uint8Array[]): number {
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done, chunk.length - done);
      bytes += chunk.length;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return bytes;
}
