/**
 * Property-based tests of the buffer logic against a reference model.
 *
 * The model (class Model below) is deliberately naive: a mirror of the data
 * area as a byte array, one record per sub-buffer (message end offsets,
 * header size, padding), produced / consumed counts as plain integers, a
 * stalled flag, a pending reservation and a read cursor. It follows the
 * kernel relay semantics the implementation promises:
 *
 *  - messages are never split across sub-buffers; when one does not fit, a
 *    switch finishes the current sub-buffer (padding = what is left, counted
 *    as produced) and calls subbufStart(buf, subbuf, prevSubbuf, prevPadding),
 *    whose return decides; the default callback switches unless the buffer is
 *    full (relayBufFull);
 *  - a refused switch stalls the buffer: every later write retries the
 *    switch and is dropped (droppedFull) if it is refused again;
 *  - a message longer than subbufSize minus the current header reserve is
 *    dropped (droppedTooBig);
 *  - overwrite mode: the switch always happens and the writer takes over the
 *    oldest unread sub-buffer (subbufsOverwritten, messagesOverwritten =
 *    its messages not already read whole);
 *  - read() copies out and consumes finished sub-buffers without padding,
 *    then the current partly filled sub-buffer (header bytes included); a
 *    bounded read (read(max), readInto) is a byte stream, filled up to its
 *    limit across sub-buffers as the kernel's read(2); a whole-message read
 *    (read() unbounded, readWhole, readWholeInto) stops before the rest of a
 *    sub-buffer that does not fit, unless it has copied nothing yet;
 *  - zero-length writes and reservations are messages of no bytes; on a
 *    stalled buffer they retry the switch, and a zero-length reservation
 *    there returns null even when the switch succeeds (the kernel's
 *    relay_reserve), counted in droppedFull;
 *  - a reservation larger than the room a sub-buffer can give is dropped
 *    (null, droppedTooBig), as a write;
 *  - overwrite mode: a lap (the writer taking over the oldest unread
 *    sub-buffer) makes relayBufFull true and reports POLLIN until a reader
 *    reads or hands sub-buffers back (the kernel's produced - consumed stays
 *    ≥ n_subbufs); a read cut short inside the sub-buffer taken over counts
 *    in readsTorn;
 *  - relayFlush switches when the current sub-buffer holds a message (a
 *    stalled buffer has no current sub-buffer, so flush leaves it stalled;
 *    the kernel's relay_flush would retry the switch there: the next write
 *    retries it anyway, so only the moment of the subbufStart call differs);
 *    relayReset returns to the initial state (memory contents stay);
 *    relaySubbufsConsumed clamps to produced - consumed and ignores a count
 *    above n_subbufs;
 *  - a reservation is counted in the stats at once and becomes visible to
 *    readers at the buffer's next write / reserve / flush / close.
 *
 * Random op sequences run against a real channel (one buffer, host
 * filesystem file, one mmap mapping) and the model side by side; after every
 * op the returned values, the bytes read, the subbufStart calls and every
 * counter of file.stats() must be equal.
 *
 * One documented limitation is reproduced by the model (Tolerances.readMsgs):
 * after a read that stops inside the published data, the implementation
 * cannot tell how many messages of that sub-buffer were read.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  __relayWrite,
  relayBufFull,
  relayClose,
  relayFlush,
  relayOpen,
  relayReserve,
  relayReset,
  relaySubbufsConsumed,
  relayWrite,
  subbufStartReserve,
  type RelayBuffer,
  type RelayCallbacks,
  type RelayChannel,
} from '../../src/channel/index.js';
import { HostFs, POLLIN, hostfsCallbacks, type RelayFile, type RelayMapping } from '../../src/hostfs/index.js';
import type { BufferStats } from '../../src/buffer/index.js';

/** Runs per property (about 0.5 s per property at 400); MODEL_RUNS=20000 for a long soak. */
const RUNS = Number(process.env.MODEL_RUNS ?? 400);
const MAX_OPS = 80;

// ------------------------------------------------------------------ ops

/**
 * - none:    no subbufStart callback (the kernel's default: no-overwrite, no header)
 * - noover:  the spec's no-overwrite example (padding header in the previous sub-buffer, refuse when full)
 * - over:    the spec's overwrite example (always switch)
 * Both callback modes also refuse while the test's gate is closed (op 'gate').
 */
type Mode = 'none' | 'noover' | 'over';

interface Config {
  subbufSize: number;
  nSubbufs: number;
  mode: Mode;
  /** Header size asked for by the i-th subbufStart call: headers[i % length] (callback modes only). */
  headers: number[];
}

type Op =
  | { op: 'write'; len: number; lean: boolean; slack: number }
  | { op: 'reserve'; len: number }
  | { op: 'flush' }
  | { op: 'read' }
  | { op: 'readMax'; max: number }
  | { op: 'readInto'; size: number; at: number }
  | { op: 'readWhole'; max: number }
  | { op: 'readWholeInto'; size: number; at: number }
  | { op: 'consume'; n: number; viaMapping: boolean }
  | { op: 'mmapRead'; consume: number }
  | { op: 'reset' }
  | { op: 'gate'; open: boolean };

/** Lengths are drawn raw and folded into the geometry, so shrinking stays meaningful. */
const writeLen = (raw: number, size: number) => (raw === 0 ? 0 : 1 + ((raw - 1) % (size + 4)));
const reserveLen = writeLen;

/** Message bytes: the sequence number (LE) first, then a pattern from it, so every message differs. */
function messageBytes(seq: number, len: number, slack: number): Uint8Array {
  const b = new Uint8Array(len + slack);
  for (let i = 0; i < b.length; i++) b[i] = i < 4 ? (seq >>> (8 * i)) & 0xff : (seq * 7 + i * 13 + 1) & 0xff;
  return b;
}

// ------------------------------------------------------------------ model

interface Slot {
  /** End offsets (within the sub-buffer) of the messages published in it. */
  ends: number[];
  /** Header bytes reserved at its start. */
  reserve: number;
  /** Padding, once finished. */
  padding: number;
}

interface Call {
  subbuf: number;
  prev: number | null;
  prevPadding: number;
}

type Counters = Omit<BufferStats, 'closed' | 'mapped'>;

const zeroCounters = (): Counters => ({
  messagesWritten: 0,
  bytesWritten: 0,
  droppedFull: 0,
  droppedTooBig: 0,
  droppedReentrant: 0,
  subbufsProduced: 0,
  subbufsConsumed: 0,
  subbufsOverwritten: 0,
  messagesOverwritten: 0,
  bytesOverwritten: 0,
  paddingBytes: 0,
  bytesRead: 0,
  readsTorn: 0,
  subbufsReady: 0,
  stalled: false,
});

/** The header the test's subbufStart writes into the previous sub-buffer: padding (LE) in its first ≤ 4 bytes, then a pattern. */
function headerBytes(reserve: number, prevPadding: number): Uint8Array {
  const h = new Uint8Array(reserve);
  for (let i = 0; i < reserve; i++) h[i] = i < 4 ? (prevPadding >>> (8 * i)) & 0xff : 0xe0 | (i & 0xf);
  return h;
}

/** Documented limitations of the implementation that the model reproduces. */
interface Tolerances {
  /** Messages read from a sub-buffer count as read only if the last read of it reached its published end. */
  readMsgs?: boolean;
}

class Model {
  readonly size: number;
  readonly n: number;
  readonly mode: Mode;
  readonly headers: number[];
  /** Mirror of the data area: what was written where (never cleared, like the real memory). */
  readonly mem: Uint8Array;
  slots: Slot[];
  produced = 0;
  consumed = 0;
  stalled = false;
  /** Reserve of the sub-buffer begun last (what the too-big check uses, also while stalled). */
  reserveWord = 0;
  pending: { off: number; len: number } | null = null;
  /** Bytes of sub-buffer `consumed` already read (from its start, header included). */
  readBytes = 0;
  /** Whether the last read of sub-buffer `consumed` reached the end of its published data (Tolerances.readMsgs). */
  readReachedEnd = false;
  /** Messages of sub-buffer `consumed` wholly within readBytes when it was last read. */
  readMsgs = 0;
  /** The writer lapped (overwrite mode) since a reader last read or handed sub-buffers back. */
  lapped = false;
  readonly tol: Tolerances;
  gate = true;
  /** subbufStart calls so far (the header size index; survives reset, like the callback's own counter). */
  calls = 0;
  readonly log: Call[] = [];
  c: Counters = zeroCounters();
  /** bytesOverwritten = message bytes of overwritten sub-buffers less what of them was read. */
  overBytes = 0;
  corrBytes = 0;

  constructor(cfg: Config, tol: Tolerances = {}) {
    this.tol = tol;
    this.size = cfg.subbufSize;
    this.n = cfg.nSubbufs;
    this.mode = cfg.mode;
    this.headers = cfg.headers;
    this.mem = new Uint8Array(this.size * this.n);
    this.slots = this.freshSlots();
    this.init();
  }

  private freshSlots(): Slot[] {
    return Array.from({ length: this.n }, () => ({ ends: [], reserve: 0, padding: 0 }));
  }

  private get full(): boolean {
    return this.produced - this.consumed >= this.n;
  }

  /** What relayBufFull says (outside subbufStart). */
  bufFull(): boolean {
    return this.full || this.lapped;
  }

  /** Whether poll reports POLLIN. */
  pollIn(): boolean {
    return this.produced > this.consumed || this.lapped;
  }

  private get curSlot(): number {
    return this.produced % this.n;
  }

  /** End (within the sub-buffer) of the published data of the current sub-buffer. */
  private curOffset(): number {
    const s = this.slots[this.curSlot]!;
    return s.ends.length ? s.ends[s.ends.length - 1]! : s.reserve;
  }

  /** The callback: the spec's examples, plus the gate. Returns the reserve asked for, or null to refuse. */
  private subbufStart(subbuf: number, prev: number | null, prevPadding: number): number | null {
    const index = this.calls++;
    if (this.mode === 'none') return this.full ? null : 0;
    this.log.push({ subbuf, prev, prevPadding });
    if (prev !== null) this.mem.set(headerBytes(this.slots[prev]!.reserve, prevPadding), prev * this.size);
    if (this.mode === 'noover' && this.full) return null;
    if (!this.gate) return null;
    return this.headers[index % this.headers.length]!;
  }

  private begin(slot: number, reserve: number): void {
    this.slots[slot] = { ends: [], reserve, padding: 0 };
    this.reserveWord = reserve;
    this.stalled = false;
  }

  private init(): void {
    const reserve = this.subbufStart(0, null, 0); // return value ignored, as in the kernel
    this.begin(0, reserve ?? 0);
  }

  private switchSubbuf(): boolean {
    let prev: number;
    let prevPadding: number;
    if (!this.stalled) {
      prev = this.curSlot;
      prevPadding = this.size - this.curOffset();
      this.slots[prev]!.padding = prevPadding;
      this.produced++;
      this.c.subbufsProduced++;
      this.c.paddingBytes += prevPadding;
    } else {
      prev = (this.produced - 1) % this.n;
      prevPadding = this.slots[prev]!.padding;
    }
    const next = this.curSlot;
    const reserve = this.subbufStart(next, prev, prevPadding);
    if (reserve === null) {
      this.stalled = true;
      return false;
    }
    if (this.full) this.overwriteOldest();
    this.begin(next, reserve);
    return true;
  }

  /** The writer takes over the oldest unread sub-buffer: what of it was not read is lost. */
  private overwriteOldest(): void {
    const s = this.slots[this.consumed % this.n]!;
    let readWhole = this.readMsgs;
    if (this.tol.readMsgs && !this.readReachedEnd) readWhole = 0;
    if (this.readBytes > 0 && !this.readReachedEnd) this.c.readsTorn++;
    this.lapped = true;
    const msgBytes = this.size - s.padding - s.reserve;
    this.c.subbufsOverwritten++;
    this.c.messagesOverwritten += s.ends.length - readWhole;
    this.overBytes += msgBytes;
    this.corrBytes += Math.max(0, this.readBytes - s.reserve);
    this.consumed++;
    this.readBytes = 0;
    this.readMsgs = 0;
    this.readReachedEnd = false;
  }

  private publishPending(): void {
    if (!this.pending) return;
    const s = this.slots[this.curSlot]!;
    s.ends.push(this.pending.off + this.pending.len);
    this.pending = null;
  }

  /** Makes room for len bytes (the writer's prepare); returns the offset within the current sub-buffer, or -1 (dropped). */
  private prepare(len: number): number {
    this.publishPending();
    if (!this.stalled && this.curOffset() + len <= this.size) return this.curOffset();
    if (len > this.size - this.reserveWord) {
      this.c.droppedTooBig++;
      return -1;
    }
    if (!this.switchSubbuf()) {
      this.c.droppedFull++;
      return -1;
    }
    if (this.curOffset() + len > this.size) {
      this.c.droppedTooBig++; // the new header left too little room
      return -1;
    }
    return this.curOffset();
  }

  write(data: Uint8Array, len: number): boolean {
    const off = this.prepare(len);
    if (off < 0) return false;
    this.mem.set(data.subarray(0, len), this.curSlot * this.size + off);
    this.slots[this.curSlot]!.ends.push(off + len);
    this.c.messagesWritten++;
    this.c.bytesWritten += len;
    return true;
  }

  /** Returns the absolute offset of the reservation in the data area, or -1. */
  reserve(len: number): number {
    const stalled = this.stalled;
    const off = this.prepare(len);
    if (off < 0) return -1;
    if (len === 0) {
      if (stalled) {
        this.c.droppedFull++; // the kernel's relay_reserve(0) returns NULL after retrying the switch
        return -1;
      }
      this.slots[this.curSlot]!.ends.push(off); // nothing to fill: published at once
      this.c.messagesWritten++;
      return this.curSlot * this.size + off;
    }
    this.pending = { off, len };
    this.c.messagesWritten++; // counted at once, readable from the next op on
    this.c.bytesWritten += len;
    return this.curSlot * this.size + off;
  }

  /** The caller filled its reservation. */
  fill(absOff: number, data: Uint8Array): void {
    this.mem.set(data, absOff);
  }

  flush(): void {
    this.publishPending();
    if (!this.stalled && this.slots[this.curSlot]!.ends.length > 0) this.switchSubbuf();
  }

  close(): void {
    this.publishPending();
  }

  /** read(max), readInto(): a byte stream of up to cap bytes; finished sub-buffers without padding, then the current one. */
  read(cap: number): Uint8Array {
    return this.readChunks(cap, false);
  }

  /**
   * readWhole(), readWholeInto(), read() unbounded: a chunk (the rest of a
   * sub-buffer) that does not fit waits for the next read, unless nothing
   * was read yet: then it is split, so the read makes progress.
   */
  readWhole(cap: number): Uint8Array {
    return this.readChunks(cap, true);
  }

  private readChunks(cap: number, whole: boolean): Uint8Array {
    const out: number[] = [];
    const push = (from: number, count: number) => {
      for (let i = 0; i < count; i++) out.push(this.mem[from + i]!);
    };
    if (cap > 0) this.lapped = false;
    while (out.length < cap) {
      const slot = this.consumed % this.n;
      const base = slot * this.size;
      const finished = this.produced > this.consumed;
      if (!finished && this.stalled) break;
      const end = finished ? this.size - this.slots[slot]!.padding : this.curOffset();
      if (!finished && end - this.readBytes <= 0) break;
      if (whole && end - this.readBytes > cap - out.length && out.length > 0) break;
      const take = Math.min(end - this.readBytes, cap - out.length);
      push(base + this.readBytes, take);
      this.readBytes += take;
      this.readReachedEnd = !finished && this.readBytes === end;
      this.readMsgs = this.slots[slot]!.ends.filter((e) => e <= this.readBytes).length;
      if (finished && this.readBytes === end) this.consumeOne(1);
      else if (!finished) break;
    }
    this.c.bytesRead += out.length;
    return Uint8Array.from(out);
  }

  /** Bytes a read() would return now. */
  available(): number {
    let total = 0;
    for (let seq = this.consumed; seq < this.produced; seq++) {
      total += this.size - this.slots[seq % this.n]!.padding - (seq === this.consumed ? this.readBytes : 0);
    }
    if (!this.stalled) total += this.curOffset() - (this.produced === this.consumed ? this.readBytes : 0);
    return total;
  }

  private consumeOne(k: number): void {
    this.consumed += k;
    this.c.subbufsConsumed += k;
    this.readBytes = 0;
    this.readMsgs = 0;
    this.readReachedEnd = false;
  }

  subbufsConsumed(k: number): number {
    if (k > this.n) return 0; // ignored, as the kernel does
    if (k > 0) this.lapped = false;
    const take = Math.min(k, this.produced - this.consumed);
    if (take > 0) this.consumeOne(take);
    return take;
  }

  /** What mapping.ready() should say. */
  ready(): { first: number; count: number } {
    return { first: this.consumed % this.n, count: Math.min(this.produced - this.consumed, this.n) };
  }

  reset(): void {
    this.produced = 0;
    this.consumed = 0;
    this.stalled = false;
    this.pending = null;
    this.readBytes = 0;
    this.readMsgs = 0;
    this.readReachedEnd = false;
    this.lapped = false;
    this.c = zeroCounters();
    this.overBytes = 0;
    this.corrBytes = 0;
    this.slots = this.freshSlots();
    this.init();
  }

  stats(): Counters {
    return {
      ...this.c,
      bytesOverwritten: Math.max(0, this.overBytes - this.corrBytes), // each term is ≥ 0 unless tolerating overwriteReserve
      subbufsReady: this.produced - this.consumed,
      stalled: this.stalled,
    };
  }
}

// ------------------------------------------------------------------ the real thing

const fs = HostFs.get(`buffer-model-${process.pid}`);
let channels = 0;

interface Checks {
  /** Compare file.available() with the model. */
  available?: boolean;
  tolerate?: Tolerances;
}

class Harness {
  readonly cfg: Config;
  readonly model: Model;
  readonly chan: RelayChannel;
  readonly file: RelayFile;
  readonly map: RelayMapping;
  readonly buf: RelayBuffer;
  readonly log: Call[] = [];
  readonly checks: Checks;
  private gate = true;
  private calls = 0;
  /** Reserve of the current sub-buffer, as the callback knows it (for the size of the header it writes). */
  private curReserve = 0;
  private seq = 0;
  private closed = false;

  constructor(cfg: Config, checks: Checks) {
    this.cfg = cfg;
    this.checks = checks;
    const base = `m${channels++}`;
    const callbacks: RelayCallbacks = { ...hostfsCallbacks(fs) };
    if (cfg.mode !== 'none') callbacks.subbufStart = (buf, subbuf, prev, prevPadding) => this.subbufStart(buf, subbuf, prev, prevPadding);
    this.model = new Model(cfg, checks.tolerate);
    this.chan = relayOpen(base, null, cfg.subbufSize, cfg.nSubbufs, callbacks, undefined, { buffers: 1 });
    this.buf = this.chan.buffer(0);
    this.file = fs.openSync(`/${base}0`);
    this.map = this.file.mmap();
    this.check('relayOpen');
  }

  private slotOf(view: Uint8Array, buf: RelayBuffer): number {
    assert.equal(view.length, this.cfg.subbufSize, 'subbufStart views are whole sub-buffers');
    const at = view.byteOffset - buf.mem.data.byteOffset;
    assert.equal(at % this.cfg.subbufSize, 0);
    return at / this.cfg.subbufSize;
  }

  /** The spec's example callbacks, written against the public API. */
  private subbufStart(buf: RelayBuffer, subbuf: Uint8Array, prev: Uint8Array | null, prevPadding: number): number {
    const index = this.calls++;
    this.log.push({ subbuf: this.slotOf(subbuf, buf), prev: prev ? this.slotOf(prev, buf) : null, prevPadding });
    if (prev) prev.set(headerBytes(this.curReserve, prevPadding));
    let accept = true;
    if (this.cfg.mode === 'noover' && relayBufFull(buf)) accept = false;
    if (!this.gate) accept = false;
    if (accept) {
      const h = this.cfg.headers[index % this.cfg.headers.length]!;
      subbufStartReserve(buf, h);
      this.curReserve = h;
    } else if (!prev) {
      this.curReserve = 0; // the first sub-buffer starts anyway, without a header
    }
    return accept ? 1 : 0;
  }

  step(op: Op): void {
    const { model: m, cfg } = this;
    const what = JSON.stringify(op);
    switch (op.op) {
      case 'write': {
        const len = writeLen(op.len, cfg.subbufSize);
        const data = messageBytes(this.seq++, len, op.slack);
        const got = op.lean ? __relayWrite(this.chan, data, len) : relayWrite(this.chan, data, len);
        assert.equal(got, m.write(data, len), `${what}: return value`);
        break;
      }
      case 'reserve': {
        const len = reserveLen(op.len, cfg.subbufSize);
        const view = relayReserve(this.chan, len);
        const off = m.reserve(len);
        if (off < 0) {
          assert.equal(view, null, `${what}: dropped`);
        } else {
          assert.ok(view, `${what}: accepted`);
          assert.equal(view.length, len);
          assert.equal(view.byteOffset - this.buf.mem.data.byteOffset, off, `${what}: offset of the reservation`);
          const data = messageBytes(this.seq++, len, 0);
          view.set(data);
          m.fill(off, data);
        }
        break;
      }
      case 'flush':
        relayFlush(this.chan);
        m.flush();
        break;
      case 'read': {
        const got = this.file.read();
        assert.deepEqual(got, m.read(Infinity), `${what}: bytes`);
        break;
      }
      case 'readMax': {
        const max = 1 + (op.max % (2 * cfg.subbufSize));
        const got = this.file.read(max);
        assert.deepEqual(got, m.read(max), `${what}: bytes`);
        break;
      }
      case 'readWhole': {
        const max = 1 + (op.max % (2 * cfg.subbufSize));
        const got = this.file.readWhole(max);
        assert.deepEqual(got, m.readWhole(max), `${what}: bytes`);
        break;
      }
      case 'readInto':
      case 'readWholeInto': {
        const size = 1 + (op.size % (2 * cfg.subbufSize));
        const at = op.at % size;
        const dest = new Uint8Array(size).fill(0xa5);
        const whole = op.op === 'readWholeInto';
        const n = whole ? this.file.readWholeInto(dest, at) : this.file.readInto(dest, at);
        const want = whole ? m.readWhole(size - at) : m.read(size - at);
        assert.equal(n, want.length, `${what}: count`);
        assert.deepEqual(dest.subarray(at, at + n), want, `${what}: bytes`);
        assert.ok(dest.subarray(0, at).every((b) => b === 0xa5) && dest.subarray(at + n).every((b) => b === 0xa5), `${what}: nothing written outside`);
        break;
      }
      case 'consume': {
        const k = op.n;
        const got = op.viaMapping ? this.map.subbufsConsumed(k) : relaySubbufsConsumed(this.chan, 0, k);
        assert.equal(got, m.subbufsConsumed(k), `${what}: clamped count`);
        break;
      }
      case 'mmapRead': {
        const ready = this.map.ready();
        assert.deepEqual(ready, m.ready(), `${what}: ready()`);
        for (let i = 0; i < ready.count; i++) {
          const slot = (ready.first + i) % cfg.nSubbufs;
          const padding = this.map.padding(slot);
          const s = m.slots[slot]!;
          assert.equal(padding, s.padding, `${what}: padding(${slot})`);
          const valid = this.map.subbuf(slot).subarray(0, cfg.subbufSize - padding);
          assert.deepEqual(valid, m.mem.subarray(slot * cfg.subbufSize, (slot + 1) * cfg.subbufSize - s.padding), `${what}: data of sub-buffer ${slot}`);
          if (cfg.mode !== 'none' && s.reserve >= 4) {
            // The spec's header: the padding of this sub-buffer, stored at its switch.
            const header = new DataView(valid.buffer, valid.byteOffset, 4).getUint32(0, true);
            assert.equal(header, padding, `${what}: header of sub-buffer ${slot} holds its padding`);
          }
        }
        const k = op.consume % (ready.count + 2); // sometimes more than ready: clamped
        assert.equal(this.map.subbufsConsumed(k), m.subbufsConsumed(k), `${what}: subbufsConsumed(${k})`);
        break;
      }
      case 'reset':
        relayReset(this.chan);
        m.reset();
        break;
      case 'gate':
        this.gate = op.open;
        m.gate = op.open;
        break;
    }
    this.check(what);
  }

  check(what: string): void {
    const { mapped, closed, ...stats } = this.file.stats();
    assert.deepEqual(stats, this.model.stats(), `after ${what}: stats`);
    assert.equal(closed, this.closed);
    assert.equal(mapped, 1);
    assert.deepEqual(this.log, this.model.log, `after ${what}: subbufStart calls`);
    assert.equal(relayBufFull(this.buf), this.model.bufFull(), `after ${what}: relayBufFull`);
    assert.equal((this.file.pollSync(0).mask & POLLIN) !== 0, this.model.pollIn(), `after ${what}: POLLIN`);
    if (this.checks.available) assert.equal(this.file.available(), this.model.available(), `after ${what}: available()`);
  }

  /** relayClose publishes a pending reservation; a reader then drains the rest. */
  finish(): void {
    relayClose(this.chan);
    this.closed = true;
    this.model.close();
    this.check('relayClose');
    assert.deepEqual(this.file.read(), this.model.read(Infinity), 'drain after relayClose');
    this.check('drain');
  }

  dispose(): void {
    if (!this.chan.closed) relayClose(this.chan);
    if (this.map.mapped) this.map.unmap();
    if (!this.file.closed) this.file.close();
  }
}

function run(cfg: Config, ops: Op[], checks: Checks = {}): void {
  const h = new Harness(cfg, checks);
  try {
    for (const op of ops) h.step(op);
    h.finish();
  } finally {
    h.dispose();
  }
}

// ------------------------------------------------------------------ generators

interface OpMix {
  reserve?: boolean;
  reset?: boolean;
  gate?: boolean;
  /** Reads that may stop inside a sub-buffer (readInto with small destinations, read(max)). */
  partialReads?: boolean;
  read?: boolean;
  mmap?: boolean;
}

function opArb(mix: OpMix): fc.Arbitrary<Op> {
  const len = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 140 }));
  const arbs: { arbitrary: fc.Arbitrary<Op>; weight: number }[] = [
    {
      weight: 12,
      arbitrary: fc.record({ op: fc.constant('write' as const), len, lean: fc.boolean(), slack: fc.constantFrom(0, 0, 3) }),
    },
    { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 8 }), viaMapping: fc.boolean() }) },
  ];
  if (mix.read !== false) arbs.push({ weight: 3, arbitrary: fc.constant({ op: 'read' as const }) });
  if (mix.mmap !== false) arbs.push({ weight: 3, arbitrary: fc.record({ op: fc.constant('mmapRead' as const), consume: fc.nat(8) }) });
  if (mix.partialReads) {
    arbs.push({ weight: 3, arbitrary: fc.record({ op: fc.constant('readInto' as const), size: fc.oneof(fc.nat(8), fc.nat(300)), at: fc.nat(4) }) });
    arbs.push({ weight: 1, arbitrary: fc.record({ op: fc.constant('readMax' as const), max: fc.oneof(fc.nat(8), fc.nat(300)) }) });
    arbs.push({ weight: 2, arbitrary: fc.record({ op: fc.constant('readWholeInto' as const), size: fc.oneof(fc.nat(8), fc.nat(300)), at: fc.nat(4) }) });
    arbs.push({ weight: 1, arbitrary: fc.record({ op: fc.constant('readWhole' as const), max: fc.oneof(fc.nat(8), fc.nat(300)) }) });
  }
  if (mix.reserve) arbs.push({ weight: 3, arbitrary: fc.record({ op: fc.constant('reserve' as const), len }) });
  if (mix.reset) arbs.push({ weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) });
  if (mix.gate) arbs.push({ weight: 1, arbitrary: fc.record({ op: fc.constant('gate' as const), open: fc.boolean() }) });
  return fc.oneof(...arbs);
}

/** Header sizes: none, the spec's 4 bytes, or a varying list (sizes below subbufSize - 1). */
type HeaderKind = 'none' | 'four' | 'varying';

function configArb(modes: Mode[], headers: HeaderKind, maxSubbufs = 6): fc.Arbitrary<Config> {
  return fc
    .record({
      subbufSize: fc.oneof(fc.integer({ min: 8, max: 24 }), fc.integer({ min: 8, max: 128 })),
      nSubbufs: fc.integer({ min: 1, max: maxSubbufs }),
      mode: fc.constantFrom(...modes),
      raw: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }),
    })
    .map(({ subbufSize, nSubbufs, mode, raw }) => ({
      subbufSize,
      nSubbufs,
      mode,
      headers: mode === 'none' || headers === 'none' ? [0] : headers === 'four' ? [4] : raw.map((h) => Math.min(h, subbufSize - 2)),
    }));
}

function property(modes: Mode[], headers: HeaderKind, mix: OpMix, checks: Checks = {}, maxSubbufs = 6) {
  return fc.property(configArb(modes, headers, maxSubbufs), fc.array(opArb(mix), { maxLength: MAX_OPS, size: 'medium' }), (cfg, ops) => run(cfg, ops, checks));
}

function check(prop: fc.IProperty<[Config, Op[]]>, runs = RUNS): void {
  fc.assert(prop, { numRuns: runs, includeErrorInReport: true });
}

// ------------------------------------------------------------------ properties

const ALL: Mode[] = ['none', 'noover', 'over'];

/** Every property tolerates only the documented limitation of cut-short reads. */
const TOLERANT: Tolerances = { readMsgs: true };
const GREEN: Checks = { tolerate: TOLERANT };

describe('the reference model itself', () => {
  test('the spec example by hand: 4-byte padding header, no-overwrite, stall and retry; the implementation agrees', () => {
    const cfg: Config = { subbufSize: 16, nSubbufs: 2, mode: 'noover', headers: [4] };
    const m = new Model(cfg);
    const msg = (len: number, tag: number) => new Uint8Array(len).fill(tag);
    assert.deepEqual(m.log, [{ subbuf: 0, prev: null, prevPadding: 0 }]);
    assert.equal(m.write(msg(5, 0xa1), 5), true); // sub-buffer 0: header 4 + 5
    assert.equal(m.write(msg(8, 0xa2), 8), true); // 9 + 8 > 16: switch (padding 7); sub-buffer 1: header 4 + 8
    assert.equal(m.write(msg(8, 0xa3), 8), false); // 12 + 8 > 16: switch (padding 4) refused, both unconsumed
    assert.equal(m.write(msg(13, 0xa4), 13), false, 'too big for 16 - 4');
    assert.equal(m.write(msg(2, 0xa5), 2), false, 'stalled: retried and refused again');
    assert.deepEqual(m.log.slice(1), [
      { subbuf: 1, prev: 0, prevPadding: 7 },
      { subbuf: 0, prev: 1, prevPadding: 4 },
      { subbuf: 0, prev: 1, prevPadding: 4 },
    ]);
    assert.deepEqual(m.ready(), { first: 0, count: 2 });
    assert.deepEqual([...m.mem.subarray(0, 9)], [7, 0, 0, 0, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1], 'sub-buffer 0: its padding, then the message');
    assert.deepEqual([...m.mem.subarray(16, 20)], [4, 0, 0, 0], 'sub-buffer 1: its padding');
    assert.deepEqual(m.stats(), {
      ...zeroCounters(),
      messagesWritten: 2,
      bytesWritten: 13,
      droppedFull: 2,
      droppedTooBig: 1,
      subbufsProduced: 2,
      paddingBytes: 11,
      subbufsReady: 2,
      stalled: true,
    });
    assert.equal(m.subbufsConsumed(1), 1);
    assert.equal(m.write(msg(3, 0xa6), 3), true, 'retry accepted: sub-buffer 0 again, header 4 + 3');
    assert.equal(m.log.length, 5);
    // Sub-buffer 1 without padding, then the current sub-buffer 0 with its stale header.
    assert.deepEqual([...m.read(Infinity)], [4, 0, 0, 0, ...msg(8, 0xa2), 7, 0, 0, 0, ...msg(3, 0xa6)]);
    assert.deepEqual(m.stats(), {
      ...zeroCounters(),
      messagesWritten: 3,
      bytesWritten: 16,
      droppedFull: 2,
      droppedTooBig: 1,
      subbufsProduced: 2,
      subbufsConsumed: 2,
      paddingBytes: 11,
      bytesRead: 19,
    });

    // The implementation, same ops (the writes above are 5, 8, 8, 13, 2, then 3 bytes).
    run(cfg, [
      ...[5, 8, 8, 13, 2].map((len) => ({ op: 'write' as const, len, lean: false, slack: 0 })),
      { op: 'mmapRead', consume: 1 },
      { op: 'write', len: 3, lean: true, slack: 0 },
      { op: 'read' },
    ]);
  });

  test('overwrite by hand: one sub-buffer, the writer takes over what was not read', () => {
    const cfg: Config = { subbufSize: 8, nSubbufs: 1, mode: 'over', headers: [0] };
    const m = new Model(cfg);
    const msg = (len: number, tag: number) => new Uint8Array(len).fill(tag);
    assert.equal(m.write(msg(3, 1), 3), true);
    assert.equal(m.write(msg(3, 2), 3), true);
    assert.deepEqual([...m.read(3)], [1, 1, 1], 'the first message, read whole');
    assert.equal(m.write(msg(4, 3), 4), true); // 6 + 4 > 8: switch, the only sub-buffer is overwritten
    assert.deepEqual(m.stats(), {
      ...zeroCounters(),
      messagesWritten: 3,
      bytesWritten: 10,
      subbufsProduced: 1,
      subbufsOverwritten: 1,
      messagesOverwritten: 1, // the second message; the first was read
      bytesOverwritten: 3,
      paddingBytes: 2,
      bytesRead: 3,
      readsTorn: 1, // the read stopped inside the sub-buffer (here on a boundary, which a reader cannot tell)
    });
    assert.deepEqual([...m.read(Infinity)], [3, 3, 3, 3]);
  });
});

describe('buffer model: single thread, one buffer', () => {
  test('no-overwrite and overwrite, no header: writes, flush, read, subbufsConsumed, mmap', () => {
    check(property(ALL, 'none', {}, GREEN));
  });

  test('no-overwrite and overwrite with the spec 4-byte padding header (header content verified)', () => {
    check(property(['noover', 'over'], 'four', {}, GREEN));
  });

  test('reservations (relayReserve + fill), published at the next write/reserve/flush/close', () => {
    check(property(ALL, 'four', { reserve: true }, GREEN));
  });

  test('refused switches with room left (a closed gate in subbufStart) stall the buffer', () => {
    check(property(['noover', 'over'], 'four', { gate: true, reserve: true }, GREEN));
  });

  test('headers of varying size, one per sub-buffer', () => {
    check(property(['noover', 'over'], 'varying', { reserve: true, gate: true, partialReads: true }, GREEN));
  });

  test('partial reads (readInto with small destinations, read(max)), every mode', () => {
    check(property(ALL, 'four', { partialReads: true, reserve: true }, GREEN));
  });

  test('relayReset back to the initial state, in every mode', () => {
    check(property(ALL, 'four', { reset: true, reserve: true, gate: true, partialReads: true }, GREEN));
  });
});

describe('buffer model: regressions of disagreements found and fixed', () => {
  test('read() consumes a finished sub-buffer it has already delivered whole, and returns the data behind it', () => {
    check(property(ALL, 'four', { reserve: true, partialReads: true }, GREEN));
  });

  test('bytesOverwritten with headers of varying size', () => {
    check(property(['over'], 'varying', {}, GREEN));
  });

  test('available() equals what a read would return', () => {
    check(property(ALL, 'four', { reserve: true, partialReads: true }, { ...GREEN, available: true }));
  });
});

// ------------------------------------------------------------------ minimal reproductions

/** A channel with one buffer and its relay file, for the hand-written reproductions below. */
function openOne(subbufSize: number, nSubbufs: number, subbufStart?: RelayCallbacks['subbufStart']) {
  const base = `r${channels++}`;
  const callbacks: RelayCallbacks = { ...hostfsCallbacks(fs), ...(subbufStart ? { subbufStart } : {}) };
  const chan = relayOpen(base, null, subbufSize, nSubbufs, callbacks, undefined, { buffers: 1 });
  const file = fs.openSync(`/${base}0`);
  return {
    chan,
    file,
    [Symbol.dispose]() {
      if (!chan.closed) relayClose(chan);
      file.close();
    },
  };
}

const bytesOf = (len: number, tag: number) => new Uint8Array(len).fill(tag);

describe('regressions: minimal reproductions', () => {
  test('nSubbufs 1, no-overwrite: after read() took everything, the buffer must accept writes again', () => {
    const { chan, file, [Symbol.dispose]: done } = openOne(16, 1);
    try {
      assert.equal(relayWrite(chan, bytesOf(4, 1)), true);
      assert.deepEqual(file.read(), bytesOf(4, 1)); // the current sub-buffer, read whole
      assert.equal(relayWrite(chan, bytesOf(16, 2)), false); // no room: switch refused, buffer full
      assert.equal(file.read().length, 0);
      // Every byte of the finished sub-buffer was read: read() consumes it (the kernel does, in relay_file_read_avail).
      assert.equal(file.stats().subbufsReady, 0, 'the sub-buffer read whole is consumed');
      assert.equal(relayWrite(chan, bytesOf(4, 3)), true, 'the switch is retried and now accepted');
    } finally {
      done();
    }
  });

  test('nSubbufs 2: read() returns the current sub-buffer behind a finished one already read whole', () => {
    const { chan, file, [Symbol.dispose]: done } = openOne(16, 2);
    try {
      relayWrite(chan, bytesOf(4, 1));
      assert.deepEqual(file.read(), bytesOf(4, 1));
      relayWrite(chan, bytesOf(13, 2)); // switch: sub-buffer 0 finished (nothing left to read), 13 bytes in sub-buffer 1
      assert.deepEqual(file.read(), bytesOf(13, 2));
    } finally {
      done();
    }
  });

  test('bytesOverwritten when the sub-buffer that takes the slot over has another header size', () => {
    let calls = 0;
    const {
      chan,
      file,
      [Symbol.dispose]: done,
    } = openOne(16, 1, (buf) => {
      if (calls++ > 0) subbufStartReserve(buf, 4); // no header in the first sub-buffer, 4 bytes from then on
      return 1;
    });
    try {
      relayWrite(chan, bytesOf(4, 1));
      assert.deepEqual(file.read(), bytesOf(4, 1)); // everything, read whole
      relayFlush(chan); // switch: the only sub-buffer is taken over; nothing of it was lost
      const s = file.stats();
      assert.equal(s.subbufsOverwritten, 1);
      assert.equal(s.messagesOverwritten, 0);
      assert.equal(s.bytesOverwritten, 0);
    } finally {
      done();
    }
  });

  test('overwrite mode: a read that resumes after the writer took over the sub-buffer it was cut in starts at whole data, and the cut is counted', () => {
    const { chan, file, [Symbol.dispose]: done } = openOne(256, 4, () => 1);
    try {
      // Every message: its tag, then its byte offset, so a read shows where in which message it starts.
      const msg = (tag: number) => Uint8Array.from({ length: 200 }, (_, i) => (i === 0 ? tag : i & 0xff));
      relayWrite(chan, msg(0xa));
      const first = new Uint8Array(100);
      assert.equal(file.readInto(first), 100, 'a byte-stream read cut inside message A');
      for (const tag of [0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11]) relayWrite(chan, msg(tag)); // B..H: A's sub-buffer taken over
      const again = new Uint8Array(100);
      assert.equal(file.readInto(again), 100);
      assert.deepEqual(again, msg(0xe).subarray(0, 100), 'E from its first byte: the oldest intact data, not a resumption at offset 100');
      const s = file.stats();
      assert.equal(s.readsTorn, 1, 'the reader is told that the message it had begun (A) will not be completed');
      assert.equal(s.messagesOverwritten, 4, 'A (only begun), B, C, D');
      assert.equal(s.bytesOverwritten, 700, 'less the 100 bytes of A delivered');
      // A whole-message read with room for a sub-buffer is never cut, so never torn.
      const whole = new Uint8Array(256);
      assert.equal(file.readWholeInto(whole), 100, 'the rest of E');
      for (const tag of [0x12, 0x13, 0x14, 0x15]) relayWrite(chan, msg(tag));
      assert.equal(file.readWholeInto(whole), 200);
      assert.deepEqual(whole.subarray(0, 200), msg(0x12), 'the oldest intact message, whole');
      assert.equal(file.stats().readsTorn, 1);
    } finally {
      done();
    }
  });

  test('available() counts the current sub-buffer behind finished ones', () => {
    const { chan, file, [Symbol.dispose]: done } = openOne(16, 2);
    try {
      relayWrite(chan, bytesOf(12, 1));
      relayWrite(chan, bytesOf(8, 2)); // switch: 12 bytes finished, 8 in the current sub-buffer
      assert.equal(file.available(), 20);
      assert.equal(file.read().length, 20);
    } finally {
      done();
    }
  });
});
