/**
 * ship: follows the relay files of a source (this process, another process
 * over its socket, or a recorded directory) and publishes their bytes to a
 * NATS JetStream stream, one subject per buffer, one message per consumed
 * chunk (cut to the server's max_payload on klog record boundaries), with the
 * buffer's counters on `<subject>.counters`, final at the end.
 *
 * Exactly once, and what it means here (docs in README "Many machines"):
 * - Every message's id is (producer, buffer, byte offset): a retried publish
 *   is dropped by the server as a duplicate, and record-back drops any
 *   overlap by offset, so no byte is in the rebuilt files twice.
 * - A buffer publishes one message at a time, so its subject holds offsets in
 *   order with no holes; a restarted shipper starts at the end of the last
 *   message (getMessage last_by_subj).
 * - A recorded directory is read again from there: nothing lost.
 * - A live buffer of another process is read with kept reads: the producer
 *   keeps what it sent until this shipper releases it, which it does only
 *   once the stream has acknowledged those bytes. A restarted shipper starts
 *   at the stream's end and gets the rest again from the producer: nothing
 *   lost, nothing twice (docs/remote-protocol.md, "Kept reads").
 * - A live buffer that cannot keep (this process's own channel: a shipper
 *   that dies dies with it) starts at the producer's bytesRead; bytes between
 *   the stream's end and bytesRead are counted as lostInTransit.
 *
 * Writers never wait on NATS: while a publish waits (server slow or gone,
 * the client reconnecting with back-off), the buffer is not read, fills, and
 * its writers drop, counted by the channel by cause (full, overwritten).
 */
import { createHash } from 'node:crypto';
import { realpathSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient, type PubAck, type StreamInfo } from '@nats-io/jetstream';
import type { BufferStats } from '../buffer/index.js';
import { Semaphore, sleep } from '../tools/async.js';
import { DiskSource } from '../tools/disk-source.js';
import { HostfsSource } from '../tools/hostfs-source.js';
import { yieldToEventLoop } from '../tools/record.js';
import { RemoteSource } from '../tools/remote-source.js';
import type { RelaySource, SourceEntry, SourceFile } from '../tools/source.js';
import { SIDECAR_NAME } from '../tools/summary.js';
import { Chunker } from './chunker.js';
import { DEFAULT_PREFIX, DEFAULT_STREAM, ShipError, checkStreamName, connectNats, parseNatsUrl, streamInfo, subjectMatches, type Connected, type NatsUrl } from './nats.js';
import {
  H_FILE,
  H_KIND,
  H_KLOG,
  H_OFFSET,
  channelToken,
  countersSubject,
  dataSubject,
  messageId,
  monotonicToWallNs,
  subjectToken,
  type BufferAddress,
  type ShippedCounters,
} from './subjects.js';

export interface ShipOptions {
  source: RelaySource;
  /** nats://[user:pass@]host[:port] */
  nats: string | NatsUrl;
  /** Default RELAYFS. */
  stream?: string;
  /** First subject token(s), default "relayfs". */
  subjectPrefix?: string;
  /** The <host> token (default: this machine's name). */
  host?: string;
  /** The <pid> token (default: the producer's pid; for a directory, a hash of it and its start time). */
  producer?: string;
  /** Create the stream (subjects <prefix>.>) when it does not exist. */
  createStream?: boolean;
  /** Longest a record waits before it is published (ms, default 50). */
  latency?: number;
  /** Publishes in flight at once, all buffers together (default 16; each buffer has at most one). */
  maxInFlight?: number;
  /** How often counters are published while shipping (ms, default 1000). */
  countersInterval?: number;
  /** How long one publish waits for its acknowledgement before it is retried (ms, default 5000). */
  publishTimeoutMs?: number;
  /** After the stop, how long publishes are retried before the rest is given up (ms, default 10000). */
  drainTimeoutMs?: number;
  klog?: boolean | 'auto';
  signal?: AbortSignal;
  onProgress?: (p: ShipSummary) => void;
  progressInterval?: number;
}

export interface ShipBufferSummary {
  file: string;
  subject: string;
  /** Offsets of this buffer's bytes now in the stream: [firstOffset, endOffset). */
  firstOffset: number;
  endOffset: number;
  /** Where this run started (the stream's end when it resumed). */
  resumedAt: number;
  bytes: number;
  messages: number;
  records: number | null;
  /** Publishes the server had already (retries, a restart): de-duplicated by message id. */
  duplicates: number;
  /** Publishes retried after a failure (timeout, disconnect). */
  retries: number;
  lostInTransit: number;
  tooBig: { records: number; bytes: number };
  /** Bytes read but never published because shipping gave up (stop with the server unreachable). */
  unshipped: number;
  stats: BufferStats | null;
  done: boolean;
}

export interface ShipSummary {
  server: string;
  stream: string;
  prefix: string;
  host: string;
  producer: string;
  source: string;
  reason: string | null;
  complete: boolean;
  error?: string;
  lastError: string | null;
  disconnects: number;
  reconnects: number;
  elapsedMs: number;
  buffers: ShipBufferSummary[];
  totals: { bytes: number; messages: number; duplicates: number; retries: number; lostInTransit: number; unshipped: number };
}

/** Room left in a message for its headers (about 150 bytes are used). */
const HEADER_ROOM = 1024;

/** Ships a source until it ends (the producer closes its channel, the directory is read) or the signal stops it. */
export async function ship(options: ShipOptions): Promise<ShipSummary> {
  const { source } = options;
  const url = typeof options.nats === 'string' ? parseNatsUrl(options.nats) : options.nats;
  const stream = checkStreamName(options.stream ?? DEFAULT_STREAM);
  const prefix = checkPrefix(options.subjectPrefix ?? DEFAULT_PREFIX);
  const started = Date.now();
  const entries = await source.list();
  const host = subjectToken(options.host ?? hostname());
  const producer = subjectToken(options.producer ?? (await producerOf(source)));

  const conn = await connectNats(url, { name: `relayfs ship ${source.description}` });
  const summary: ShipSummary = {
    server: url.display,
    stream,
    prefix,
    host,
    producer,
    source: source.description,
    reason: null,
    complete: false,
    lastError: null,
    disconnects: 0,
    reconnects: 0,
    elapsedMs: 0,
    buffers: [],
    totals: { bytes: 0, messages: 0, duplicates: 0, retries: 0, lostInTransit: 0, unshipped: 0 },
  };
  const watching = watchStatus(conn.nc, summary);
  const shippers: BufferShipper[] = [];
  let failure: unknown = null;
  const stop = new AbortController();
  const giveUp = new AbortController();
  let giveUpTimer: NodeJS.Timeout | undefined;
  const onStop = (): void => {
    stop.abort(options.signal?.reason);
    giveUpTimer = setTimeout(() => giveUp.abort('drain timeout'), options.drainTimeoutMs ?? 10_000);
  };
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    const info = await checkStream(conn, stream, prefix, options.createStream ?? false);
    // The server's max_payload, or the stream's max_msg_size when that is smaller.
    const maxMsg = Math.min(conn.nc.info!.max_payload, info.config.max_msg_size > 0 ? info.config.max_msg_size : Infinity);
    const lane: Lane = {
      js: jetstream(conn.nc, { timeout: options.publishTimeoutMs ?? 5000 }),
      stream,
      slots: new Semaphore(options.maxInFlight ?? 16),
      limit: Math.max(1024, maxMsg - HEADER_ROOM),
      giveUp: giveUp.signal,
      summary,
      clock: monotonicToWallNs().toString(),
    };
    for (const entry of entries) {
      const address: BufferAddress = { prefix, host, producer, channel: channelToken(entry.name), buffer: entry.cpu };
      shippers.push(await BufferShipper.open(entry, source, address, conn, lane, options.klog ?? 'auto'));
    }
    summary.buffers = shippers.map((s) => s.summary);
    if (options.signal?.aborted) onStop();
    else options.signal?.addEventListener('abort', onStop, { once: true });
    if (options.onProgress) {
      const report = options.onProgress;
      progressTimer = setInterval(() => {
        summary.elapsedMs = Date.now() - started;
        report(summary);
      }, options.progressInterval ?? 250);
      progressTimer.unref();
    }
    const latency = options.latency ?? 50;
    const interval = options.countersInterval ?? 1000;
    const runs = await Promise.allSettled(
      shippers.map((s) =>
        s.run(latency, interval, stop.signal).catch((err: unknown) => {
          failure ??= err;
          if (!stop.signal.aborted) onStop();
          throw err;
        }),
      ),
    );
    for (const r of runs) if (r.status === 'rejected') failure ??= r.reason;
    // Final counters, after the last read: written = shipped + lost, by cause.
    const why = failure ? 'error' : options.signal?.aborted ? String(options.signal.reason ?? 'stopped') : source.live ? 'hangup' : 'end';
    summary.reason = why;
    const finals = await Promise.allSettled(shippers.map((s) => s.finish(why)));
    for (const f of finals) if (f.status === 'rejected') failure ??= f.reason;
  } catch (err) {
    failure ??= err;
  } finally {
    options.signal?.removeEventListener('abort', onStop);
    clearInterval(progressTimer);
    clearTimeout(giveUpTimer);
    await Promise.allSettled(shippers.map((s) => s.close()));
    await conn.nc.close().catch(() => {});
    await watching;
  }
  summary.elapsedMs = Date.now() - started;
  summary.complete = !failure;
  summary.reason ??= 'error';
  for (const b of summary.buffers) {
    summary.totals.bytes += b.bytes;
    summary.totals.messages += b.messages;
    summary.totals.duplicates += b.duplicates;
    summary.totals.retries += b.retries;
    summary.totals.lostInTransit += b.lostInTransit;
    summary.totals.unshipped += b.unshipped;
  }
  if (failure) {
    summary.error = (failure as Error)?.message ?? String(failure);
    throw failure;
  }
  return summary;
}

/** What every buffer's shipper shares: the client, the in-flight bound, the give-up signal. */
interface Lane {
  js: JetStreamClient;
  stream: string;
  slots: Semaphore;
  limit: number;
  giveUp: AbortSignal;
  summary: ShipSummary;
  clock: string;
}

class BufferShipper {
  readonly summary: ShipBufferSummary;
  private readonly file: SourceFile;
  private readonly address: BufferAddress;
  private readonly lane: Lane;
  private readonly chunker: Chunker;
  private readonly description: string;
  private lastCounters = 0;
  /** Counted by earlier shipper runs of this buffer. */
  private readonly tooBigBefore: { records: number; bytes: number };

  private constructor(file: SourceFile, address: BufferAddress, lane: Lane, chunker: Chunker, summary: ShipBufferSummary, description: string) {
    this.file = file;
    this.address = address;
    this.lane = lane;
    this.chunker = chunker;
    this.summary = summary;
    this.description = description;
    this.tooBigBefore = { ...summary.tooBig };
  }

  /** Opens the buffer and finds where to start: the end of what the stream has. */
  static async open(entry: SourceEntry, source: RelaySource, address: BufferAddress, conn: Connected, lane: Lane, klog: boolean | 'auto'): Promise<BufferShipper> {
    const subject = dataSubject(address);
    const [last, lastCounters] = await Promise.all([
      conn.jsm.streams.getMessage(lane.stream, { last_by_subj: subject }),
      conn.jsm.streams.getMessage(lane.stream, { last_by_subj: countersSubject(address) }),
    ]);
    const before = lastCounters ? (lastCounters.json<ShippedCounters>() ?? null) : null;
    const end = last ? Number(last.header.get(H_OFFSET)) + last.data.length : null;
    const file = await source.open(entry);
    try {
      let start: number;
      let lost = before?.lostInTransit ?? 0;
      let first = before?.firstOffset ?? end ?? 0;
      if (file.seek) {
        // Finished data: read again from where the stream ends.
        start = end ?? 0;
        if (end === null) first = 0;
        await file.seek(start);
      } else {
        // Live data: reads consume. A producer that keeps what it sent until released (kept reads) sends the
        // rest again from the stream's end; otherwise start where the producer's reads are.
        const at = file.keep ? await file.keep(end) : ((await file.stats())?.bytesRead ?? 0);
        if (end === null) {
          first = at;
        } else {
          if (at < end) throw streamAhead(subject, end, at, entry.path);
          lost += at - end; // read, but not in the stream (with kept reads: only if someone else released it)
        }
        start = at;
      }
      const summary: ShipBufferSummary = {
        file: entry.name,
        subject,
        firstOffset: first,
        endOffset: start,
        resumedAt: start,
        bytes: 0,
        messages: 0,
        records: null,
        duplicates: 0,
        retries: 0,
        lostInTransit: lost,
        tooBig: before?.tooBig ? { ...before.tooBig } : { records: 0, bytes: 0 },
        unshipped: 0,
        stats: null,
        done: false,
      };
      const chunker = new Chunker(lane.limit, start, klog);
      return new BufferShipper(file, address, lane, chunker, summary, `${source.description} ${entry.name}`);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** Reads and publishes until stopped or hung up, then drains what is readable. */
  async run(latency: number, countersInterval: number, signal: AbortSignal): Promise<void> {
    let idle = false;
    while (!signal.aborted) {
      if (Date.now() - this.lastCounters >= countersInterval) await this.publishCounters(false, null);
      if (await this.shipOnce(false)) {
        idle = false;
        continue;
      }
      if (signal.aborted) break;
      if (idle) await yieldToEventLoop();
      const p = await this.file.poll(Math.min(latency, countersInterval));
      if (p.hangup && !p.readable) break;
      idle = p.readable;
    }
    while (await this.shipOnce(false)) {
      /* drain */
    }
    await this.shipOnce(true);
  }

  /** Final counters, taken after the last read. */
  async finish(reason: string): Promise<void> {
    if (this.summary.unshipped > 0) return;
    await this.publishCounters(true, reason);
    this.summary.done = true;
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => {});
  }

  /** One read, cut and published; false when there was nothing to read. */
  private async shipOnce(end: boolean): Promise<boolean> {
    const data = end ? new Uint8Array(0) : await this.file.read();
    if (data.length === 0 && !end) return false;
    this.chunker.push(data);
    const pieces = this.chunker.take(end);
    const s = this.summary;
    s.tooBig = { records: this.tooBigBefore.records + this.chunker.tooBig.records, bytes: this.tooBigBefore.bytes + this.chunker.tooBig.bytes };
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      const h = natsHeaders();
      h.set(H_KIND, 'data');
      h.set(H_OFFSET, String(piece.offset));
      h.set(H_FILE, this.summary.file);
      if (piece.records !== null) h.set(H_KLOG, '1');
      try {
        const ack = await this.publish(s.subject, piece.data, messageId(this.address, piece.offset), h);
        if (ack.duplicate) s.duplicates++;
      } catch (err) {
        for (let j = i; j < pieces.length; j++) s.unshipped += pieces[j]!.data.length;
        s.unshipped += this.chunker.held;
        throw err;
      }
      s.messages++;
      s.bytes += piece.data.length;
      s.endOffset = piece.offset + piece.data.length;
      this.file.release?.(s.endOffset); // in the stream now: the producer may forget it
      if (piece.records !== null) s.records = (s.records ?? 0) + piece.records;
    }
    return data.length > 0;
  }

  private async publishCounters(final: boolean, reason: string | null): Promise<void> {
    this.lastCounters = Date.now();
    const s = this.summary;
    s.stats = await this.file.stats().catch(() => s.stats);
    const body: ShippedCounters = {
      kind: 'relayfs-counters',
      version: 1,
      host: this.address.host,
      producer: this.address.producer,
      channel: this.address.channel,
      buffer: this.address.buffer,
      file: s.file,
      source: this.description,
      final,
      reason,
      at: new Date().toISOString(),
      stats: s.stats,
      firstOffset: s.firstOffset,
      endOffset: s.endOffset,
      lostInTransit: s.lostInTransit,
      tooBig: s.tooBig,
      monotonicToWallNs: this.lane.clock,
    };
    const h = natsHeaders();
    h.set(H_KIND, 'counters');
    h.set(H_FILE, s.file);
    await this.publish(countersSubject(this.address), new TextEncoder().encode(JSON.stringify(body)), undefined, h);
  }

  /** Publishes until the server acknowledges (same id each time), backing off between tries. */
  private async publish(subject: string, data: Uint8Array, msgID: string | undefined, h: ReturnType<typeof natsHeaders>): Promise<PubAck> {
    const lane = this.lane;
    for (let attempt = 0; ; attempt++) {
      await lane.slots.acquire();
      try {
        return await lane.js.publish(subject, data, { msgID, headers: h });
      } catch (err) {
        const message = (err as Error)?.message ?? String(err);
        lane.summary.lastError = message;
        if (/maximum payload|max_payload/i.test(message)) throw new ShipError('ENATS_PUBLISH', `${subject}: the server refused a ${data.length}-byte message: ${message}`);
        this.summary.retries++;
      } finally {
        lane.slots.release();
      }
      if (lane.giveUp.aborted) {
        throw new ShipError('ENATS_PUBLISH', `${subject}: gave up after the stop: the server did not take the data (${lane.summary.lastError})`);
      }
      await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), lane.giveUp);
    }
  }
}

function streamAhead(subject: string, end: number, read: number, path: string): ShipError {
  return new ShipError(
    'ENATS_STREAM_AHEAD',
    `${subject}: the stream holds bytes of this buffer up to ${end}, but only ${read} have been read from ${path}: another producer with the same host and pid? (give another --producer)`,
  );
}

async function checkStream(conn: Connected, stream: string, prefix: string, create: boolean): Promise<StreamInfo> {
  let info;
  try {
    info = await streamInfo(conn, stream);
  } catch (err) {
    if (!(create && err instanceof ShipError && err.code === 'ENATS_NO_STREAM')) throw err;
    const taken = await conn.jsm.streams.find(`${prefix}.h.p.c.0`).catch(() => null);
    if (taken) {
      throw new ShipError(
        'ENATS_STREAM_SUBJECTS',
        `${conn.url.display}: stream ${taken} already takes ${prefix}.>: ship to it (--stream ${taken}) or use another --subject-prefix`,
      );
    }
    info = await conn.jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
  }
  const sample = `${prefix}.h.p.c.0`;
  const subjects = info.config.subjects ?? [];
  if (!subjects.some((f) => subjectMatches(f, sample)) || !subjects.some((f) => subjectMatches(f, `${sample}.counters`))) {
    throw new ShipError(
      'ENATS_STREAM_SUBJECTS',
      `${conn.url.display}: stream ${stream} takes ${subjects.join(', ') || 'no subjects'}, not ${prefix}.> (add that subject, or ship with --subject-prefix)`,
    );
  }
  return info;
}

/** The producer token: the pid of a live producer; for a directory, a hash of its path and start time. */
async function producerOf(source: RelaySource): Promise<string> {
  if (source instanceof RemoteSource) return String((await source.request(() => source.remote.info(), '/')).pid);
  if (source instanceof HostfsSource) return String(process.pid);
  if (source instanceof DiskSource) {
    let dir = source.description;
    let startedAt = '';
    try {
      dir = realpathSync(dir);
      startedAt = (JSON.parse(readFileSync(join(dir, SIDECAR_NAME), 'utf8')) as { startedAt?: string }).startedAt ?? '';
    } catch {
      /* a single file, or no sidecar */
    }
    return `d${createHash('sha256').update(`${dir}\n${startedAt}`).digest('hex').slice(0, 10)}`;
  }
  return String(process.pid);
}

function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    throw new ShipError('ENATS_URL', `${JSON.stringify(prefix)}: a subject prefix is tokens of letters, digits, "-" and "_" joined by "."`);
  }
  return prefix;
}

/** Counts disconnects and reconnects until the connection closes. */
async function watchStatus(nc: NatsConnection, summary: ShipSummary): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === 'disconnect') summary.disconnects++;
    else if (s.type === 'reconnect') summary.reconnects++;
  }
}
