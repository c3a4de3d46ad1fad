/**
 * mmap() of a relay file: the whole buffer (NRBUF × SUBBUFSIZE), zero-copy.
 * The consumer learns which sub-buffers are ready and their padding here,
 * and hands them back with subbufsConsumed (relay_subbufs_consumed).
 */
import type { BufferMemory, BufferReader } from '../buffer/index.js';
import { RelayError, describe, invalidArg } from '../errors.js';

export class RelayMapping {
  /** The whole data area; sub-buffer i starts at i × subbufSize. */
  readonly data: Uint8Array;
  readonly subbufSize: number;
  readonly nSubbufs: number;
  private readonly reader: BufferReader;
  private readonly onUnmap: () => void;
  private live = true;

  constructor(mem: BufferMemory, reader: BufferReader, onUnmap: () => void, onMap: () => void) {
    this.data = mem.data;
    this.subbufSize = mem.subbufSize;
    this.nSubbufs = mem.nSubbufs;
    this.reader = reader;
    this.onUnmap = onUnmap;
    reader.mapped(1);
    onMap();
  }

  /** The view of one sub-buffer. */
  subbuf(slot: number): Uint8Array {
    this.checkSlot(slot);
    return this.data.subarray(slot * this.subbufSize, (slot + 1) * this.subbufSize);
  }

  /** Padding at the end of a finished sub-buffer: its valid bytes are subbufSize - padding. */
  padding(slot: number): number {
    this.checkSlot(slot);
    return this.reader.padding(slot);
  }

  /** The oldest finished, unconsumed sub-buffer (slot index) and how many are ready from it on. */
  ready(): { first: number; count: number } {
    this.check();
    return this.reader.ready();
  }

  /** relay_subbufs_consumed for this buffer (clamped to what is ready; n above nSubbufs is ignored); returns how many. */
  subbufsConsumed(n: number): number {
    this.check();
    if (!Number.isInteger(n) || n < 0) throw invalidArg(`subbufsConsumed needs a whole number ≥ 0, got ${describe(n)}`);
    return this.reader.subbufsConsumed(n);
  }

  get mapped(): boolean {
    return this.live;
  }

  /** munmap: bufUnmapped runs. */
  unmap(): void {
    this.check();
    this.live = false;
    this.reader.mapped(-1);
    this.onUnmap();
  }

  private check(): void {
    if (!this.live) throw new RelayError('ERELAY_CLOSED', 'the mapping was unmapped');
  }

  private checkSlot(slot: number): void {
    this.check();
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.nSubbufs) {
      throw invalidArg(`sub-buffer index must be 0..${this.nSubbufs - 1}, got ${describe(slot)}`);
    }
  }
}
