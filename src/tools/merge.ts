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
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KlogRecord, TruncatedTail } from '../klog/index.js';
import { DiskSource } from './disk-source.js';
import { KlogReader } from './klog-reader.js';
import { lineWriter, type LineFormat } from './record-lines.js';
import { SequenceTracker, type WriterSummary } from './sequence.js';
import type { RelaySource, SourceFile } from './source.js';
import { SIDECAR_NAME } from './summary.js';

export interface MergeOptions {
  /** Files, or directories of per-buffer files (record output, flight-recorder dumps). */
  inputs: readonly (string | RelaySource)[];
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
  /**
   * Per origin (a host and producer, from the relayfs.json that record-back
   * writes); recordings without one share the origin "". Writers are told
   * apart per origin, so two processes' thread 1 are not one writer.
   */
  origins: { origin: string; records: number; lost: number; missingStart: number }[];
}

export async function merge(options: MergeOptions): Promise<MergeSummary> {
  const inputs = options.inputs.flatMap((i) =>
    typeof i === 'string' ? expandInput(i).map((p) => ({ source: new DiskSource(p) as RelaySource, origin: originOf(p) })) : [{ source: i, origin: null }],
  );
  const files: SourceFile[] = [];
  const origins: (Origin | null)[] = [];
  try {
    for (const { source, origin } of inputs) {
      for (const entry of await source.list()) {
        files.push(await source.open(entry));
        origins.push(origin);
      }
    }
    return await mergeFiles(files, origins, options);
  } finally {
    await Promise.allSettled(files.map((f) => f.close()));
  }
}

export interface Origin {
  /** "host/producer" */
  label: string;
  host: string;
  /** Nanoseconds from this host's monotonic clock (klog timestamps) to wall time. */
  clock: bigint | null;
}

/** A directory that holds no buffer files but record-back's per-producer directories stands for those. */
export function expandInput(path: string): string[] {
  try {
    if (!statSync(path).isDirectory()) return [path];
    const entries = readdirSync(path, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && /\d$/.test(e.name))) return [path];
    const subdirs = entries
      .filter((e) => e.isDirectory())
      .map((e) => join(path, e.name))
      .filter((d) => statSync(join(d, SIDECAR_NAME), { throwIfNoEntry: false })?.isFile());
    return subdirs.length ? subdirs.sort() : [path];
  } catch {
    return [path]; // the source says what is wrong
  }
}

/** The origin record-back wrote into a directory's relayfs.json, if any. */
export function originOf(path: string): Origin | null {
  try {
    const o = (JSON.parse(readFileSync(join(path, SIDECAR_NAME), 'utf8')) as { origin?: { host?: string; producer?: string; monotonicToWallNs?: string | null } }).origin;
    if (!o?.host) return null;
    return { label: `${o.host}/${o.producer ?? ''}`, host: o.host, clock: o.monotonicToWallNs ? BigInt(o.monotonicToWallNs) : null };
  } catch {
    return null;
  }
}

/**
 * Timestamp shifts that put several hosts' monotonic clocks on one (wall)
 * scale; 0 for a single host, where the clocks already agree.
 */
export function clockShifts(origins: (Origin | null)[]): number[] {
  const hostClock = new Map<string, bigint>();
  for (const o of origins) if (o?.clock != null && !hostClock.has(o.host)) hostClock.set(o.host, o.clock);
  if (hostClock.size < 2 || origins.some((o) => !o || o.clock == null)) return origins.map(() => 0);
  const min = [...hostClock.values()].reduce((a, b) => (b < a ? b : a));
  return origins.map((o) => Number(hostClock.get(o!.host)! - min));
}

/** A record seen through a shifted clock (its other fields and methods unchanged). */
export function shifted(rec: KlogRecord, by: number): KlogRecord {
  return by === 0 ? rec : (Object.create(rec, { timestamp: { value: rec.timestamp + by } }) as KlogRecord);
}

async function mergeFiles(files: SourceFile[], origins: (Origin | null)[], options: MergeOptions): Promise<MergeSummary> {
  const lines = lineWriter(options.format ?? 'text');
  const out = new LineBatcher(options.out);
  const labels = origins.map((o) => o?.label ?? '');
  const trackers = new Map<string, SequenceTracker>(labels.map((l) => [l, new SequenceTracker()]));
  const perOrigin = new Map<string, { origin: string; records: number; lost: number; missingStart: number }>(
    labels.map((l) => [l, { origin: l, records: 0, lost: 0, missingStart: 0 }]),
  );
  const labelled = trackers.size > 1;
  const shifts = clockShifts(origins);
  const readers = files.map((f) => new KlogReader(f));
  const heap = new RecordHeap();
  for (let i = 0; i < readers.length; i++) {
    const rec = await readers[i]!.next();
    if (rec) heap.push({ rec: shifted(rec, shifts[i]!), input: i });
  }
  let records = 0;
  let lost = 0;
  const started = Date.now();
  let nextReport = started + 250;
  // The loop stays synchronous while records are decoded and the batch has room: an await per record would cost more than the record.
  for (let top = heap.pop(); top; top = heap.pop()) {
    const { rec, input } = top;
    const ev = trackers.get(labels[input]!)!.see(rec);
    if (ev?.kind === 'gap') lost += ev.count;
    if (ev && ev.kind !== 'restart' && !options.quietLosses) out.add(lines.event(labelled ? { ...ev, origin: labels[input] } : ev));
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
    if (next) heap.push({ rec: shifted(next, shifts[input]!), input });
  }
  const truncated = readers.filter((r) => r.tail !== null);
  for (const r of truncated) await out.write(lines.truncated(r.file.entry.path, r.tail!));
  await out.flush();
  const writers: WriterSummary[] = [];
  for (const [label, tracker] of trackers) {
    const o = perOrigin.get(label)!;
    for (const w of tracker.summary()) {
      writers.push(labelled ? { ...w, origin: label } : w);
      o.records += w.records;
      o.lost += w.lost;
      o.missingStart += w.missingStart;
    }
  }
  return {
    files: readers.map((r) => ({ path: r.file.entry.path, records: r.records, truncated: r.tail })),
    records,
    writers,
    lost: writers.reduce((n, w) => n + w.lost, 0),
    missingStart: writers.reduce((n, w) => n + w.missingStart, 0),
    truncated: truncated.length,
    origins: [...perOrigin.values()],
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
    for (let i = a.length - 1; i > 0;) {
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
      for (let i = 0; ;) {
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

  /** Characters waiting for flush(). */
  get pendingLength(): number {
    return this.pending.length;
  }

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
