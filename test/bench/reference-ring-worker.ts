/**
 * The two threads of test/bench/reference-ring.test.ts: a producer and a consumer of one
 * ReferenceRing. Both derive the same message plan from a seed, so the consumer recomputes
 * every message it should get (its length, and each byte from its sequence number) instead
 * of receiving a copy. Each posts one report and returns; a consumer that finds a wrong
 * message reports it at once and stops consuming (the test then ends both threads).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ReferenceRing } from '../../bench/reference-ring.js';

export interface RingJob {
  role: 'producer' | 'consumer';
  /** lossless: write() and every message arrives; dropping: tryWrite(), sequence numbers only grow. */
  mode: 'lossless' | 'dropping';
  sab: SharedArrayBuffer;
  /** One Int32 the consumer sets to 1 when it starts: the producer waits for it, so that both run from the first message. */
  ready: SharedArrayBuffer;
  seed: number;
  count: number;
  /** Consumer: extra passes over each message, to fall behind the producer by doing work (not by sleeping). */
  work: number;
}

export interface ProducerReport {
  /** Messages the ring took (every one in lossless mode). */
  written: number;
  /** ring.dropped after end(). */
  dropped: number;
  /** Bytes the ring took, records and padding included (so the test can tell the ring wrapped many times). */
  recordBytes: number;
}

export interface ConsumerReport {
  received: number;
  /** The sequence number of the last message received (-1 if none). */
  lastSeq: number;
  /** The first wrong thing seen, or null. */
  failure: string | null;
  /** What the extra work computed (reported so that it cannot be optimised away). */
  sink?: number;
}

// ------------------------------------------------------------------ the plan both sides derive

/** mulberry32: a small seeded PRNG, uint32 out. */
function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Byte i of message seq: a hash, so that a byte from another message or another place differs. */
export function byteAt(seq: number, i: number): number {
  return Math.imul(seq * 1024 + i + 1, 0x9e3779b1) >>> 24;
}

/**
 * Where a message's bytes come from, which decides the ring's copy path (≤ 48 B: word by word
 * from a 4-aligned source, through a view cached per source object, else byte by byte; larger:
 * TypedArray.set):
 *  - fresh: a new Uint8Array of its own (byteOffset 0);
 *  - pool: a new subarray of one shared buffer, at any byteOffset (aligned or 1..3 past it);
 *  - kept: one of four long-lived sources (byteOffsets 0, 4, 1, 2), refilled each time;
 *  - again: the very object the previous message came from, refilled.
 */
type Source = 'fresh' | 'pool' | 'kept' | 'again';

interface Spec {
  len: number;
  source: Source;
  /** pool: the byteOffset; kept: which one. */
  at: number;
}

const POOL_BYTES = 16 * 1024;
const KEPT_OFFSETS = [0, 4, 1, 2];

class Plan {
  private readonly next: () => number;
  readonly keptLengths: number[];
  private prevLen = 0;

  constructor(
    seed: number,
    private readonly minLen: number,
  ) {
    this.next = prng(seed);
    this.keptLengths = KEPT_OFFSETS.map(() => this.length(64));
  }

  // Half the messages small (up to 64 B: both sides of the 48-byte cut-over), half up to 600 B.
  private length(max = this.next() % 2 === 0 ? 64 : 600): number {
    return this.minLen + (this.next() % (max - this.minLen + 1));
  }

  spec(): Spec {
    const r = this.next() % 16;
    let spec: Spec;
    if (r < 4 || (r >= 12 && this.prevLen === 0)) spec = { len: this.length(), source: 'fresh', at: 0 };
    else if (r < 8) {
      const len = this.length();
      spec = { len, source: 'pool', at: this.next() % (POOL_BYTES - len + 1) };
    } else if (r < 12) {
      const k = this.next() % KEPT_OFFSETS.length;
      spec = { len: this.keptLengths[k]!, source: 'kept', at: k };
    } else spec = { len: this.prevLen, source: 'again', at: 0 };
    this.prevLen = spec.len;
    return spec;
  }

  /** The lengths of the first `count` messages. */
  static lengths(seed: number, minLen: number, count: number): Uint16Array {
    const plan = new Plan(seed, minLen);
    const out = new Uint16Array(count);
    for (let i = 0; i < count; i++) out[i] = plan.spec().len;
    return out;
  }
}

/** In dropping mode every message starts with its sequence number (u32, little-endian). */
const SEQ_BYTES = 4;

function fill(dst: Uint8Array, seq: number, withSeq: boolean): void {
  let i = 0;
  if (withSeq) {
    new DataView(dst.buffer, dst.byteOffset, dst.length).setUint32(0, seq, true);
    i = SEQ_BYTES;
  }
  for (; i < dst.length; i++) dst[i] = byteAt(seq, i);
}

// ------------------------------------------------------------------ the two threads

function produce(ring: ReferenceRing, job: RingJob): ProducerReport {
  const dropping = job.mode === 'dropping';
  const plan = new Plan(job.seed, dropping ? SEQ_BYTES : 1);
  const pool = new Uint8Array(POOL_BYTES);
  const kept = plan.keptLengths.map((len, k) => new Uint8Array(new ArrayBuffer(len + 8), KEPT_OFFSETS[k]!, len));
  let prev = new Uint8Array(0);
  let written = 0;
  let recordBytes = 0;
  for (let seq = 0; seq < job.count; seq++) {
    const { len, source, at } = plan.spec();
    const src = source === 'fresh' ? new Uint8Array(len) : source === 'pool' ? pool.subarray(at, at + len) : source === 'kept' ? kept[at]! : prev;
    if (src.length !== len) throw new Error(`plan: source of ${src.length} B for a ${len}-byte message`);
    fill(src, seq, dropping);
    if (dropping ? ring.tryWrite(src) : (ring.write(src), true)) {
      written++;
      recordBytes += 4 + ((len + 3) & ~3);
    }
    prev = src;
  }
  ring.end();
  return { written, dropped: ring.dropped, recordBytes };
}

function consume(ring: ReferenceRing, job: RingJob): ConsumerReport {
  const dropping = job.mode === 'dropping';
  const lengths = Plan.lengths(job.seed, dropping ? SEQ_BYTES : 1, job.count);
  const bytes = ring.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let received = 0;
  let lastSeq = -1;
  let sink = 0;
  for (let at = ring.next(); at >= 0; at = ring.next()) {
    const len = ring.length;
    const seq = dropping ? (len >= SEQ_BYTES ? view.getUint32(at, true) : -1) : received;
    const where = `message #${received} (seq ${seq}, ${len} B)`;
    if (seq >= job.count || (dropping && seq <= lastSeq)) return { received, lastSeq, failure: `${where}: seq after ${lastSeq} of ${job.count}` };
    if (len !== lengths[seq]) return { received, lastSeq, failure: `${where}: length ${len}, want ${lengths[seq]}` };
    for (let i = dropping ? SEQ_BYTES : 0; i < len; i++) {
      if (bytes[at + i] !== byteAt(seq, i)) return { received, lastSeq, failure: `${where}: byte ${i} is ${bytes[at + i]}, want ${byteAt(seq, i)}` };
    }
    for (let pass = 0; pass < job.work; pass++) for (let i = 0; i < len; i++) sink = (sink * 31 + bytes[at + i]!) | 0;
    lastSeq = seq;
    received++;
    ring.release();
  }
  return { received, lastSeq, failure: null, sink };
}

if (!isMainThread && parentPort) {
  const job = workerData as RingJob;
  const ring = new ReferenceRing(job.sab);
  const ready = new Int32Array(job.ready);
  if (job.role === 'producer') {
    while (Atomics.load(ready, 0) === 0) Atomics.wait(ready, 0, 0);
    parentPort.postMessage(produce(ring, job));
  } else {
    Atomics.store(ready, 0, 1);
    Atomics.notify(ready, 0);
    parentPort.postMessage(consume(ring, job));
  }
}
