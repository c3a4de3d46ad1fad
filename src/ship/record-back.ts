/**
 * record-back: rebuilds record's on-disk layout from a stream that ship
 * filled. One directory per producer channel, `<host>-<pid>-<channel>`, each
 * with one file per buffer and relayfs.json, so merge, cat and top read it
 * as they read a local recording.
 *
 * Bytes are placed by their offset: a message whose bytes are already in the
 * file (a duplicate the server's window no longer caught) is skipped, a jump
 * forward is a hole (bytes lost in transit), so the files hold every shipped
 * byte once. With a buffer's final counters, lost in transit is exact:
 * bytesRead - firstOffset - bytes in the file - records too big to ship.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { KlogFormatError, KlogScanner } from '../klog/index.js';
import { summarizeBuffer, totalsOf, writeSidecar, type BufferSummary, type Sidecar } from '../tools/summary.js';
import { DEFAULT_PREFIX, ShipError, checkStreamName, connectNats, parseNatsUrl, streamInfo } from './nats.js';
import { H_FILE, H_KIND, H_KLOG, H_OFFSET, parseSubject, type ShippedCounters } from './subjects.js';

export interface NatsRecordOptions {
  /** nats://[user:pass@]host[:port]/STREAM */
  url: string;
  outDir: string;
  /** The stream, when the URL has none. */
  stream?: string;
  subjectPrefix?: string;
  signal?: AbortSignal;
  onProgress?: (p: { messages: number; total: number; bytes: number }) => void;
}

export interface NatsRecordSummary {
  server: string;
  stream: string;
  messages: number;
  bytes: number;
  /** One per producer channel: its directory and the relayfs.json written there. */
  producers: { dir: string; host: string; producer: string; channel: string; sidecar: Sidecar }[];
}

/** What record-back adds to a buffer's entry in relayfs.json. */
export interface TransitSummary {
  subject: string;
  firstOffset: number;
  endOffset: number;
  /** Bytes consumed from the buffer that are not in the file (exact with final counters). */
  lostInTransit: number;
  /** Places where bytes are missing between two messages. */
  holes: number;
  /** Messages skipped because their bytes were in the file already. */
  duplicates: number;
  tooBig: { records: number; bytes: number };
  /** Whether the shipper's last counters were final (it saw the end). */
  final: boolean;
}

export async function recordFromNats(options: NatsRecordOptions): Promise<NatsRecordSummary> {
  const url = parseNatsUrl(options.url);
  const stream = checkStreamName(url.stream ?? options.stream ?? '');
  const prefix = options.subjectPrefix ?? DEFAULT_PREFIX;
  const conn = await connectNats(url, { name: 'relayfs record' });
  const started = new Date().toISOString();
  const groups = new Map<string, Group>();
  let messages = 0;
  let bytes = 0;
  try {
    const filter = `${prefix}.>`;
    const info = await streamInfo(conn, stream);
    const counts = (await conn.jsm.streams.info(stream, { subjects_filter: filter })).state.subjects ?? {};
    const total = Object.values(counts).reduce((n, c) => n + c, 0);
    if (total === 0) throw new ShipError('ENATS_EMPTY', `${url.display}: stream ${stream} has no ${filter} messages to read back`);
    const lastSeq = info.state.last_seq;
    await mkdir(options.outDir, { recursive: true });
    const consumer = await jetstream(conn.nc).consumers.get(stream, { filter_subjects: filter });
    // Pull by bytes, not by count: 256 messages of up to max_payload each overran
    // the server's per-client pending limit (64 MiB), which closed the
    // connection as a slow consumer, and the consume never resumed.
    const iter = await consumer.consume({ max_bytes: pullBytes(conn.nc.info?.max_payload) });
    const onAbort = () => iter.stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let nextReport = Date.now() + 250;
    try {
      for await (const m of iter) {
        const a = parseSubject(prefix, m.subject);
        const kind = m.headers?.get(H_KIND);
        if (a && (kind === 'data' || kind === 'counters')) {
          const key = `${a.host}-${a.producer}-${a.channel}`;
          let g = groups.get(key);
          if (!g) groups.set(key, (g = new Group(join(options.outDir, key), a.host, a.producer, a.channel)));
          if (kind === 'counters') {
            g.buffer(a.buffer, m.headers?.get(H_FILE) || `${a.channel}${a.buffer}`, m.subject.slice(0, -'.counters'.length)).counters = m.json<ShippedCounters>();
          } else {
            const b = g.buffer(a.buffer, m.headers?.get(H_FILE) || `${a.channel}${a.buffer}`, m.subject);
            await b.add(Number(m.headers?.get(H_OFFSET) ?? NaN), m.data, m.headers?.get(H_KLOG) === '1');
            bytes += m.data.length;
          }
        }
        messages++;
        if (options.onProgress && Date.now() >= nextReport) {
          nextReport = Date.now() + 250;
          options.onProgress({ messages, total, bytes });
        }
        if (m.info.pending === 0 || m.seq >= lastSeq) break;
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      iter.stop();
    }
    const producers: NatsRecordSummary['producers'] = [];
    for (const g of groups.values()) {
      const sidecar = await g.finish(url.display.endsWith(`/${stream}`) ? url.display : `${url.display}/${stream}`, started, options.signal?.aborted ? 'stopped' : null);
      producers.push({ dir: g.dir, host: g.host, producer: g.producer, channel: g.channel, sidecar });
    }
    return { server: url.display, stream, messages, bytes, producers };
  } finally {
    await Promise.allSettled([...groups.values()].map((g) => g.close()));
    await conn.nc.close().catch(() => {});
  }
}

/** Bytes asked for per pull: a few messages of the largest size the server takes, well under its 64 MiB slow-consumer limit. */
export function pullBytes(maxPayload: number | undefined): number {
  const PULL_BYTES = 16 * 1024 * 1024;
  return Math.max(PULL_BYTES, (maxPayload ?? 0) + 64 * 1024);
}

/** One producer channel: its directory of buffer files. */
class Group {
  readonly dir: string;
  readonly host: string;
  readonly producer: string;
  readonly channel: string;
  private readonly buffers = new Map<number, Rebuild>();

  constructor(dir: string, host: string, producer: string, channel: string) {
    this.dir = dir;
    this.host = host;
    this.producer = producer;
    this.channel = channel;
  }

  buffer(cpu: number, file: string, subject: string): Rebuild {
    let b = this.buffers.get(cpu);
    if (!b) this.buffers.set(cpu, (b = new Rebuild(this.dir, cpu, safeName(file), subject)));
    return b;
  }

  async finish(source: string, startedAt: string, stopped: string | null): Promise<Sidecar> {
    await mkdir(this.dir, { recursive: true });
    const rebuilt = [...this.buffers.values()].sort((a, b) => a.cpu - b.cpu);
    const buffers: (BufferSummary & { transit: TransitSummary })[] = [];
    const warnings: string[] = [];
    for (const b of rebuilt) {
      await b.finish();
      buffers.push(b.summary(warnings));
    }
    const counters = rebuilt.map((b) => b.counters);
    const allFinal = counters.every((c) => c?.final);
    const sidecar: Sidecar & { origin: Record<string, unknown> } = {
      kind: 'record',
      version: 1,
      source: `${source} ${this.host}.${this.producer}.${this.channel}`,
      startedAt,
      endedAt: new Date().toISOString(),
      latencyMs: null,
      reason: stopped ?? (allFinal ? (counters[0]?.reason ?? 'end') : 'shipping'),
      complete: stopped === null,
      warnings,
      buffers,
      totals: totalsOf(buffers),
      origin: {
        host: this.host,
        producer: this.producer,
        channel: this.channel,
        source: counters.find((c) => c)?.source ?? null,
        monotonicToWallNs: counters.find((c) => c)?.monotonicToWallNs ?? null,
      },
    };
    if (!allFinal) warnings.push('no final counters for every buffer: the shipper has not finished (or was killed); counters are the last it sent');
    await writeSidecar(this.dir, sidecar);
    return sidecar;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.buffers.values()].map((b) => b.close()));
  }
}

/** One buffer's file, written in offset order. */
class Rebuild {
  readonly cpu: number;
  readonly name: string;
  readonly subject: string;
  private readonly path: string;
  private fh: FileHandle | null = null;
  counters: ShippedCounters | null = null;
  private first: number | null = null;
  private next = 0;
  private bytes = 0;
  private holes = 0;
  private holeBytes = 0;
  private duplicates = 0;
  private scanner: KlogScanner | null = new KlogScanner();
  private klogSeen = false;
  private scanWarning: string | null = null;

  constructor(dir: string, cpu: number, name: string, subject: string) {
    this.path = join(dir, name);
    this.cpu = cpu;
    this.name = name;
    this.subject = subject;
  }

  async add(offset: number, data: Uint8Array, klog: boolean): Promise<void> {
    if (!Number.isInteger(offset) || offset < 0) return;
    if (this.first === null) {
      this.first = offset;
      this.next = offset;
    }
    if (offset + data.length <= this.next) {
      this.duplicates++;
      return;
    }
    if (offset < this.next)
      data = data.subarray(this.next - offset); // overlap: keep the new part only
    else if (offset > this.next) {
      this.holes++;
      this.holeBytes += offset - this.next;
    }
    if (!this.fh) {
      await mkdir(this.path.slice(0, this.path.lastIndexOf('/')), { recursive: true });
      this.fh = await open(this.path, 'w');
    }
    for (let done = 0; done < data.length;) done += (await this.fh.write(data, done, data.length - done)).bytesWritten;
    this.klogSeen ||= klog;
    if (this.scanner) {
      try {
        this.scanner.push(data);
      } catch (err) {
        if (!(err instanceof KlogFormatError)) throw err;
        this.scanWarning = `${this.name}: stopped counting klog records: ${err.message}`;
        this.scanner = null;
      }
    }
    this.bytes += data.length;
    this.next = Math.max(this.next, offset + data.length);
  }

  async finish(): Promise<void> {
    if (!this.fh) this.fh = await open(this.path, 'w'); // counters only: an empty file, so the buffer is listed
    await this.fh.sync();
  }

  summary(warnings: string[]): BufferSummary & { transit: TransitSummary } {
    const c = this.counters;
    const first = c?.firstOffset ?? this.first ?? 0;
    const tooBig = c?.tooBig ?? { records: 0, bytes: 0 };
    // With counters: the producer's reads are the truth; without, holes between messages are all we know.
    const consumed = c?.stats ? c.stats.bytesRead : null;
    const lost = consumed !== null && c?.final ? Math.max(0, consumed - first - this.bytes - tooBig.bytes) : Math.max(this.holeBytes, c?.lostInTransit ?? 0);
    if (this.scanWarning) warnings.push(this.scanWarning);
    if (lost > 0) warnings.push(`${this.name}: ${lost} bytes were read from the buffer but never reached the stream (a shipper killed mid-publish)`);
    if (tooBig.records > 0) warnings.push(`${this.name}: ${tooBig.records} records larger than the server's max_payload were not shipped`);
    const records = this.klogSeen && this.scanner ? this.scanner.records : null;
    const base = summarizeBuffer({ name: this.name, cpu: this.cpu, file: this.name, bytes: this.bytes, records }, c?.stats ?? null);
    return {
      ...base,
      transit: {
        subject: this.subject,
        firstOffset: first,
        endOffset: this.first === null ? first : this.next,
        lostInTransit: lost,
        holes: this.holes,
        duplicates: this.duplicates,
        tooBig,
        final: c?.final ?? false,
      },
    };
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}

/** A file name from a header: no path separators or dot-names. */
function safeName(name: string): string {
  const n = name.replace(/[/\\\0]/g, '_');
  return n === '.' || n === '..' || n === '' ? '_' : n;
}
