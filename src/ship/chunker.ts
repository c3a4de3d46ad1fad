/**
 * Cuts a buffer's consumed bytes into messages of at most `limit` bytes that
 * hold whole klog records only. Reads of another process can end inside a
 * record (HTTP chunks mean nothing), so a partial record waits for its end.
 * Data that is not klog records is cut anywhere.
 */
import { checkHeader } from '../klog/decoder.js';
import { KLOG_HEADER_SIZE, KLOG_MAGIC, KLOG_MIN_VERSION, KLOG_VERSION, KlogFormatError } from '../klog/format.js';

export interface Piece {
  data: Uint8Array;
  /** Byte offset of data[0] in the buffer's consumed stream. */
  offset: number;
  /** klog records in it (null for other data). */
  records: number | null;
}

export class Chunker {
  private readonly limit: number;
  private klog: boolean | 'auto';
  private pending: Uint8Array = new Uint8Array(0);
  /** Offset of pending[0]. */
  offset: number;
  tooBig = { records: 0, bytes: 0 };
  /** Why klog cutting stopped, if it did. */
  warning: string | null = null;

  constructor(limit: number, startOffset: number, klog: boolean | 'auto' = 'auto') {
    this.limit = limit;
    this.offset = startOffset;
    this.klog = klog;
  }

  get isKlog(): boolean {
    return this.klog === true;
  }

  /** Bytes held back (a record not complete yet). */
  get held(): number {
    return this.pending.length;
  }

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.pending.length === 0) this.pending = data;
    else {
      const joined = new Uint8Array(this.pending.length + data.length);
      joined.set(this.pending);
      joined.set(data, this.pending.length);
      this.pending = joined;
    }
    if (this.klog === 'auto' && this.pending.length >= 3) {
      const p = this.pending;
      this.klog = (p[0]! | (p[1]! << 8)) === KLOG_MAGIC && p[2]! >= KLOG_MIN_VERSION && p[2]! <= KLOG_VERSION;
    }
  }

  /** The messages that can go now; with `end`, everything held too. */
  take(end: boolean): Piece[] {
    if (this.klog === true) {
      try {
        return this.takeRecords(end);
      } catch (err) {
        if (!(err instanceof KlogFormatError)) throw err;
        this.warning = `not klog records from byte ${this.offset}: ${err.detail}; cut by size from there`;
        this.klog = false;
      }
    }
    if (this.klog === 'auto' && !end) return [];
    const pieces: Piece[] = [];
    const p = this.pending;
    for (let at = 0; at < p.length; at += this.limit) {
      const data = p.subarray(at, Math.min(p.length, at + this.limit));
      pieces.push({ data, offset: this.offset + at, records: null });
    }
    this.offset += p.length;
    this.pending = new Uint8Array(0);
    return pieces;
  }

  private takeRecords(end: boolean): Piece[] {
    const p = this.pending;
    const pieces: Piece[] = [];
    let start = 0;
    let at = 0;
    let records = 0;
    const cut = (to: number) => {
      if (to > start) pieces.push({ data: p.subarray(start, to), offset: this.offset + start, records });
      start = to;
      records = 0;
    };
    while (p.length - at >= KLOG_HEADER_SIZE) {
      const size = checkHeader(p, at, this.offset + at);
      if (at + size > p.length) break;
      if (size > this.limit) {
        // One record larger than the server takes: counted, not shipped.
        cut(at);
        this.tooBig.records++;
        this.tooBig.bytes += size;
        at += size;
        start = at;
        continue;
      }
      if (at + size - start > this.limit) cut(at);
      at += size;
      records++;
    }
    cut(at);
    if (end && at < p.length) {
      // The source ended inside a record: ship what there is, as record does.
      pieces.push({ data: p.subarray(at), offset: this.offset + at, records: 0 });
      at = p.length;
    }
    this.offset += at;
    this.pending = at === p.length ? new Uint8Array(0) : p.slice(at);
    return pieces;
  }
}
