/**
 * export: recordings (record output, flight-recorder dumps) as one Chrome
 * Trace Event file, which Perfetto, chrome://tracing and the DevTools
 * Performance panel open.
 *
 * Every recording directory is a process and every writer (buffer, thread) a
 * thread track named after both. Text and raw records are instant events,
 * spans are duration events ("X"; or async "b"/"e" when their ends cross),
 * counters are counter tracks, and every loss is an instant marker on the
 * track where it happened, with a running "lost" counter per buffer. The
 * channel's drop counts from relayfs.json are a marker at the end of their
 * buffer. Timestamps are microseconds on the klog clock (CLOCK_MONOTONIC),
 * the same for every thread and process of a machine.
 *
 * Chrome traces need no order, so the files are read one after another and
 * events written as they are decoded: memory stays at one chunk plus the open
 * spans, whatever the size of the recording.
 */
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { readCounter, readSpanBegin, readSpanEnd, recordText, type KlogRecord, type TruncatedTail } from '../klog/index.js';
import { DiskSource } from './disk-source.js';
import { readFillSamples, FILL_SAMPLES_NAME } from './fill-samples.js';
import { KlogReader } from './klog-reader.js';
import { LineBatcher, clockShifts, expandInput, originOf, shifted } from './merge.js';
import { SequenceTracker, type SequenceEvent } from './sequence.js';
import { SIDECAR_NAME, type Sidecar } from './summary.js';
import { SourceError, type SourceEntry, type SourceFile } from './source.js';

export interface ChromeExportOptions {
  /** Recording directories (or single per-buffer files); each becomes a process in the trace. */
  inputs: readonly string[];
  out: Writable;
  /** Called about every 250 ms while files are read. */
  onProgress?: (progress: ChromeExportProgress) => void;
}

export interface ChromeExportProgress {
  /** Bytes of klog records read so far, of `totalBytes`. */
  bytes: number;
  totalBytes: number;
  events: number;
  elapsedMs: number;
}

export interface ChromeExportSummary {
  /** Records read: every one is an event (spans: two records, one event). */
  records: number;
  /** Events written, metadata included. */
  events: number;
  /** Tracks (writers) per input. */
  threads: number;
  spans: number;
  /** Spans whose ends crossed other spans' and went to async tracks. */
  asyncSpans: number;
  /** Spans still open at the end of their writer's records. */
  unfinishedSpans: number;
  counters: number;
  /** Records missing by sequence number (gaps), and markers written for them. */
  lost: number;
  lossMarkers: number;
  /** Buffers whose relayfs.json counted drops (a marker each). */
  dropMarkers: number;
  fillSamples: number;
  files: { path: string; records: number; truncated: TruncatedTail | null }[];
}

/** A span begun and not ended yet. */
interface OpenSpan {
  id: number;
  name: string;
  args: string;
  ts: number;
}

/** One writer: a (buffer, thread) pair of one input, a track of its own. */
interface Track {
  tid: number;
  open: OpenSpan[];
  lastTs: number;
}

const TEXT_NAME_MAX = 120;

/** Writes the Chrome trace of `inputs` to `out` (not ended: the caller owns it). */
export async function exportChromeTrace(options: ChromeExportOptions): Promise<ChromeExportSummary> {
  // A record-back directory stands for its producers; several hosts' clocks are put on one scale, as merge does.
  const paths = options.inputs.flatMap(expandInput);
  const origins = paths.map(originOf);
  const shifts = clockShifts(origins);
  const inputs = await Promise.all(paths.map((p, i) => listInput(p, shifts[i]!, origins[i]?.label)));
  const totalBytes = inputs.reduce((n, i) => n + i.bytes, 0);
  const w = new EventWriter(options.out);
  const sum: ChromeExportSummary = {
    records: 0,
    events: 0,
    threads: 0,
    spans: 0,
    asyncSpans: 0,
    unfinishedSpans: 0,
    counters: 0,
    lost: 0,
    lossMarkers: 0,
    dropMarkers: 0,
    fillSamples: 0,
    files: [],
  };
  const started = Date.now();
  let nextReport = started;
  let bytesDone = 0;
  const report = (extra: number, force = false): void => {
    if (!options.onProgress || (!force && Date.now() < nextReport)) return;
    nextReport = Date.now() + 250;
    options.onProgress({ bytes: bytesDone + extra, totalBytes, events: w.count, elapsedMs: Date.now() - started });
  };

  await w.begin();
  for (let p = 0; p < inputs.length; p++) {
    const input = inputs[p]!;
    const pid = p + 1;
    w.add({ ph: 'M', name: 'process_name', pid, tid: 0, ts: 0, args: { name: input.title } });
    w.add({ ph: 'M', name: 'process_sort_index', pid, tid: 0, ts: 0, args: { sort_index: pid } });
    const tracks = new Map<string, Track>();
    /** Last writer seen per buffer: where the buffer's drop marker goes. */
    const lastOfBuffer = new Map<number, Track>();
    for (const entry of input.entries) {
      const file = await input.source.open(entry);
      try {
        const size = await file.available();
        await exportFile(file, input.shift, pid, tracks, lastOfBuffer, w, sum, (done) => report(done));
        bytesDone += size;
      } finally {
        await file.close();
      }
      const summary = input.sidecar?.buffers.find((b) => b.name === entry.name);
      const track = lastOfBuffer.get(entry.cpu);
      if (summary && track && (summary.lost ?? 0) > 0) {
        sum.dropMarkers++;
        w.add({ ph: 'I', s: 't', cat: 'loss', name: `channel dropped ${summary.lost}`, pid, tid: track.tid, ts: us(track.lastTs), args: { buffer: entry.name, ...summary.drops } });
      }
    }
    sum.threads += tracks.size;
    sum.fillSamples += await exportFill(input, pid, w);
    report(0, true);
  }
  sum.events = w.count;
  await w.end({
    relayfs: { inputs: inputs.map((i) => ({ path: i.path, source: i.sidecar?.source ?? null, totals: i.sidecar?.totals ?? null })), summary: { ...sum, files: undefined } },
  });
  return sum;
}

/**
 * exportChromeTrace into a file; a name ending in .gz is gzip-compressed.
 * The file is complete (flushed and closed) when this resolves.
 */
export async function writeChromeTraceFile(inputs: readonly string[], path: string, onProgress?: ChromeExportOptions['onProgress']): Promise<ChromeExportSummary> {
  for (const input of inputs) inputOf(input); // a bad input fails before the file is made
  const file = createWriteStream(path);
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const done = path.endsWith('.gz') ? pipeline(out, createGzip(), file) : pipeline(out, file);
  try {
    const summary = await exportChromeTrace({ inputs, out, onProgress });
    out.end();
    await done;
    return summary;
  } catch (err) {
    out.destroy(err as Error);
    await done.catch(() => undefined);
    if (!file.closed) await once(file, 'close');
    await rm(path, { force: true }); // no half trace left behind
    throw err;
  }
}

interface Input {
  path: string;
  title: string;
  sidecar: Sidecar | null;
  source: DiskSource;
  entries: SourceEntry[];
  /** Bytes of its per-buffer files, for progress. */
  bytes: number;
  /** Nanoseconds added to its timestamps (another host's clock); 0 on one host. */
  shift: number;
}

async function listInput(path: string, shift: number, origin: string | undefined): Promise<Input> {
  const input = inputOf(path);
  const source = new DiskSource(path);
  const entries = await source.list();
  const bytes = entries.reduce((n, e) => n + statSync(e.path).size, 0);
  return { ...input, title: origin ? `${input.title} ${origin}` : input.title, source, entries, bytes, shift };
}

function inputOf(path: string): Pick<Input, 'path' | 'title' | 'sidecar'> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new SourceError('ENOENT', `${path}: no such file or directory`);
  }
  const dir = st.isDirectory() ? path : dirname(path);
  let sidecar: Sidecar | null = null;
  try {
    sidecar = JSON.parse(readFileSync(join(dir, SIDECAR_NAME), 'utf8')) as Sidecar;
    if (!Array.isArray(sidecar?.buffers)) sidecar = null;
  } catch {
    /* no sidecar: no drop counts, names from the files */
  }
  const title = `relayfs ${basename(path)}${sidecar?.source ? ` (${sidecar.source})` : ''}`;
  return { path, title, sidecar };
}

async function exportFile(
  file: SourceFile,
  shift: number,
  pid: number,
  tracks: Map<string, Track>,
  lastOfBuffer: Map<number, Track>,
  w: EventWriter,
  sum: ChromeExportSummary,
  progress: (bytes: number) => void,
): Promise<void> {
  const reader = new KlogReader(file, { follow: false });
  const seq = new SequenceTracker();
  const name = file.entry.name;
  let lostInBuffer = 0;
  let current: Track | null = null;
  let currentKey = '';
  const size = await file.available();
  for (let next = await reader.next(); next; next = reader.take() ?? (await reader.next())) {
    const rec = shifted(next, shift);
    const key = `${rec.buffer}/${rec.thread}`;
    if (key !== currentKey) {
      currentKey = key;
      current = tracks.get(key) ?? null;
      if (!current) {
        current = { tid: tracks.size + 1, open: [], lastTs: rec.timestamp };
        tracks.set(key, current);
        const label = `${name} · ${rec.thread === 0 ? 'main thread' : `thread ${rec.thread}`}`;
        w.add({ ph: 'M', name: 'thread_name', pid, tid: current.tid, ts: 0, args: { name: label } });
        w.add({ ph: 'M', name: 'thread_sort_index', pid, tid: current.tid, ts: 0, args: { sort_index: current.tid } });
      }
      lastOfBuffer.set(file.entry.cpu, current);
    }
    const track = current!;
    track.lastTs = rec.timestamp;
    const ev = seq.see(rec);
    if (ev && ev.kind !== 'restart') {
      const lost = ev.count;
      if (ev.kind === 'gap') {
        sum.lost += lost;
        lostInBuffer += lost;
        w.add({ ph: 'C', name: `lost ${name}`, pid, tid: track.tid, ts: us(rec.timestamp), args: { records: lostInBuffer } });
      }
      sum.lossMarkers++;
      w.add(lossMarker(ev, pid, track.tid));
    }
    // Synchronous while the batch has room: an await per record would cost more than the record.
    recordEvent(rec, pid, track, w, sum);
    sum.records++;
    if (w.full) {
      await w.flush();
      progress(size - (await file.available()));
    }
  }
  // Spans still open: their end is not in the recording; they last to the writer's last record (1 ns past it, so it falls inside).
  for (const track of tracks.values()) {
    while (track.open.length > 0) {
      const span = track.open.pop()!;
      sum.unfinishedSpans++;
      if (w.add(completeEvent(span, track.lastTs + 1, '', pid, track.tid, { unfinished: true }))) await w.flush();
    }
  }
  sum.files.push({ path: file.entry.path, records: reader.records, truncated: reader.tail });
}

function recordEvent(rec: KlogRecord, pid: number, track: Track, w: EventWriter, sum: ChromeExportSummary): void {
  const ts = us(rec.timestamp);
  const tid = track.tid;
  switch (rec.type) {
    case 'text': {
      const text = recordText(rec);
      const cut = text.length > TEXT_NAME_MAX;
      w.add({
        ph: 'I',
        s: 't',
        cat: 'klog',
        name: cut ? `${text.slice(0, TEXT_NAME_MAX)}…` : text,
        pid,
        tid,
        ts,
        args: cut || rec.truncated ? { seq: rec.seq, text, truncated: rec.truncated || undefined } : { seq: rec.seq },
      });
      return;
    }
    case 'raw':
      w.add({ ph: 'I', s: 't', cat: 'klog', name: `raw ${rec.length} B`, pid, tid, ts, args: { seq: rec.seq, hex: Buffer.from(rec.payload.subarray(0, 32)).toString('hex') } });
      return;
    case 'counter': {
      const c = readCounter(rec);
      sum.counters++;
      w.add({ ph: 'C', cat: 'klog', name: c.name, pid, tid, ts, args: { value: c.value } });
      return;
    }
    case 'span-begin': {
      const b = readSpanBegin(rec);
      track.open.push({ id: b.id, name: b.name, args: b.args, ts: rec.timestamp });
      return;
    }
    case 'span-end': {
      const e = readSpanEnd(rec);
      const open = track.open;
      const at = open.findLastIndex((s) => s.id === e.id);
      if (at < 0) {
        // Its begin was overwritten, dropped (a gap says so) or made before recording started.
        w.add({
          ph: 'I',
          s: 't',
          cat: 'klog',
          name: `end of ${e.name || `span #${e.id}`} (its begin is not in the recording)`,
          pid,
          tid,
          ts,
          args: { id: e.id, ...parseArgs(e.args) },
        });
        return;
      }
      const span = open[at]!;
      open.splice(at, 1);
      sum.spans++;
      if (at === open.length) {
        // The innermost open span: it nests in the thread's track.
        w.add(completeEvent(span, rec.timestamp, e.args, pid, tid));
      } else {
        // Ends crossed (async work interleaving on one thread): a thread track cannot show it nested.
        sum.asyncSpans++;
        const id2 = { local: `${tid}.${span.id}` };
        const args = mergeArgs(span.args, e.args, { id: span.id });
        w.add({ ph: 'b', cat: 'klog.async', name: span.name, id2, pid, tid, ts: us(span.ts), args });
        w.add({ ph: 'e', cat: 'klog.async', name: span.name, id2, pid, tid, ts });
      }
    }
  }
}

function completeEvent(span: OpenSpan, endNs: number, endArgs: string, pid: number, tid: number, extra?: Record<string, unknown>): object {
  return { ph: 'X', cat: 'klog', name: span.name, pid, tid, ts: us(span.ts), dur: us(endNs - span.ts), args: mergeArgs(span.args, endArgs, { id: span.id, ...extra }) };
}

function lossMarker(ev: Exclude<SequenceEvent, { kind: 'restart' }>, pid: number, tid: number): object {
  if (ev.kind === 'gap') {
    const to = (ev.from + ev.count - 1) >>> 0;
    return {
      ph: 'I',
      s: 't',
      cat: 'loss',
      name: `lost ${ev.count} record${ev.count === 1 ? '' : 's'}`,
      pid,
      tid,
      ts: us(ev.timestamp),
      args: { from: ev.from, to, count: ev.count },
    };
  }
  return {
    ph: 'I',
    s: 't',
    cat: 'loss',
    name: `${ev.count} earlier record${ev.count === 1 ? '' : 's'} not here`,
    pid,
    tid,
    ts: us(ev.timestamp),
    args: { count: ev.count, why: 'overwritten (flight recorder) or made before recording started' },
  };
}

async function exportFill(input: Pick<Input, 'path' | 'shift'>, pid: number, w: EventWriter): Promise<number> {
  let n = 0;
  const dir = statSync(input.path).isDirectory() ? input.path : dirname(input.path);
  for await (const sample of readFillSamples(join(dir, FILL_SAMPLES_NAME))) {
    for (const [buffer, fill] of Object.entries(sample.fill)) {
      if (w.add({ ph: 'C', cat: 'relayfs', name: `fill ${buffer}`, pid, tid: 0, ts: us(sample.t + input.shift), args: { percent: Math.round(fill * 1000) / 10 } })) await w.flush();
    }
    n++;
  }
  return n;
}

function parseArgs(json: string): Record<string, unknown> {
  if (!json) return {};
  try {
    const v: unknown = JSON.parse(json);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { args: v };
  } catch {
    return { args: json };
  }
}

function mergeArgs(begin: string, end: string, extra: Record<string, unknown>): Record<string, unknown> {
  return { ...parseArgs(begin), ...parseArgs(end), ...extra };
}

/** Nanoseconds to microseconds, exactly (three decimals). */
function us(ns: number): number {
  return Math.round(ns) / 1000;
}

/** Streams `{"traceEvents":[...]}` one event at a time, batched, waiting for 'drain'. */
class EventWriter {
  count = 0;
  private readonly out: LineBatcher;

  constructor(out: Writable) {
    this.out = new LineBatcher(out);
  }

  async begin(): Promise<void> {
    await this.out.write('{"traceEvents":[\n');
  }

  /** True when enough is queued that flush() should run. */
  get full(): boolean {
    return this.out.pendingLength >= 64 * 1024;
  }

  /** Queues an event; true when enough is queued that the caller should flush(). */
  add(event: object): boolean {
    const line = (this.count === 0 ? '' : ',\n') + JSON.stringify(event);
    this.count++;
    return this.out.add(line);
  }

  flush(): Promise<void> {
    return this.out.flush();
  }

  async end(metadata: object): Promise<void> {
    await this.out.write(`\n],"displayTimeUnit":"ms","metadata":${JSON.stringify(metadata)}}\n`);
    await this.out.flush();
  }
}
