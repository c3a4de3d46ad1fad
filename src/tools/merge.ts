/**
 * merge: per-buffer files of klog records into one stream ordered by
 * timestamp, as text or JSON lines. Each file is already in order (one
 * writer per buffer, a monotonic clock), so this is a k-way merge that
 * streams: memory stays at one chunk per file. Sequence gaps come out as
 * loss lines where they happen; a last record cut short is reported and
 * left out.
 */
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import type { KlogRecord, TruncatedTail } from '../klog/index.js';
import { DiskSource } from './disk-source.js';
import { KlogReader } from './klog-reader.js';
import { lineWriter, type LineFormat } from './record-lines.js';
import { SequenceTracker, type WriterSummary } from './sequence.js';
import type { RelaySource, SourceFile } from './source.js';

export interface MergeOptions {
  /** Files, or directories of per-buffer files (record output, flight-recorder dumps). */
  inputs: readonly string[] | readonly RelaySource[];
  format?: LineFormat;
  out: Writable;
  /** Leave out the loss lines (they are still counted in the summary). */
  quietLosses?: boolean;
  /** Called about every 250 ms with the records merged and losses seen so far. */
  onProgress?: (progress: { records: number; lost: number; elapsedMs: number }) => void;
}

export interface MergeSummary {
  files: { path: string; records: number; truncated: TruncatedTail | null }[];
  records: number;
  writers: WriterSummary[];
  /** Records missing between records of the same writer. */
  lost: number;
  /** Records before the first seen of each writer. */
  missingStart: number;
  truncated: number;
}

export async function merge(options: MergeOptions): Promise<MergeSummary> {
  const sources = options.inputs.map((i) => (typeof i === 'string' ? new DiskSource(i) : i));
  const files: SourceFile[] = [];
  try {
    for (const source of sources) for (const entry of await source.list()) files.push(await source.open(entry));
    return await mergeFiles(files, options);
  } finally {
    await Promise.allSettled(files.map((f) => f.close()));
  }
}

async function mergeFiles(files: SourceFile[], options: MergeOptions): Promise<MergeSummary> {
  const lines = lineWriter(options.format ?? 'text');
  const out = new LineBatcher(options.out);
  const tracker = new SequenceTracker();
  const readers = files.map((f) => new KlogReader(f));
  const heap = new RecordHeap();
  for (let i = 0; i < readers.length; i++) {
    const rec = await readers[i]!.next();
    if (rec) heap.push({ rec, input: i });
  }
  let records = 0;
  let lost = 0;
  const started = Date.now();
  let nextReport = started + 250;
  // The loop stays synchronous while records are decoded and the batch has room: an await per record would cost more than the record.
  for (let top = heap.pop(); top; top = heap.pop()) {
    const { rec, input } = top;
    const ev = tracker.see(rec);
    if (ev?.kind === 'gap') lost += ev.count;
    if (ev && ev.kind !== 'restart' && !options.quietLosses) out.add(lines.event(ev));
    if (out.add(lines.record(rec))) {
      await out.flush();
      if (options.onProgress && Date.now() >= nextReport) {
        nextReport = Date.now() + 250;
        options.onProgress({ records, lost, elapsedMs: Date.now() - started });
      }
    }
    records++;
    const reader = readers[input]!;
    const next = reader.take() ?? (await reader.next());
    if (next) heap.push({ rec: next, input });
  }
  const truncated = readers.filter((r) => r.tail !== null);
  for (const r of truncated) await out.write(lines.truncated(r.file.entry.path, r.tail!));
  await out.flush();
  const writers = tracker.summary();
  return {
    files: readers.map((r) => ({ path: r.file.entry.path, records: r.records, truncated: r.tail })),
    records,
    writers,
    lost: writers.reduce((n, w) => n + w.lost, 0),
    missingStart: writers.reduce((n, w) => n + w.missingStart, 0),
    truncated: truncated.length,
  };
}

interface HeapItem {
  rec: KlogRecord;
  input: number;
}

/** Min-heap by timestamp; ties go to the lower input index so equal stamps keep a stable order. */
class RecordHeap {
  private readonly items: HeapItem[] = [];

  push(item: HeapItem): void {
    const a = this.items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): HeapItem | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: HeapItem, y: HeapItem): boolean {
  return x.rec.timestamp < y.rec.timestamp || (x.rec.timestamp === y.rec.timestamp && x.input < y.input);
}

/** Joins lines into larger writes and waits for 'drain' when the stream is full. */
export class LineBatcher {
  private pending = '';
  private readonly out: Writable;

  constructor(out: Writable) {
    this.out = out;
  }

  async write(line: string): Promise<void> {
    if (this.add(line)) await this.flush();
  }

  /** Adds a line; true when enough is pending that the caller should flush(). */
  add(line: string): boolean {
    this.pending += line;
    return this.pending.length >= 64 * 1024;
  }

  async flush(): Promise<void> {
    if (!this.pending) return;
    const chunk = this.pending;
    this.pending = '';
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
}
