/**
 * Reads the klog records of one source file chunk by chunk (so files larger
 * than memory merge fine), naming the file in any format error.
 */
import { KlogDecoder, KlogFormatError, type KlogRecord, type TruncatedTail } from '../klog/index.js';
import { SourceError } from './source.js';
import { yieldToEventLoop } from './record.js';
import type { SourceFile } from './source.js';

export class KlogReader {
  readonly file: SourceFile;
  private readonly decoder = new KlogDecoder();
  private batch: KlogRecord[] = [];
  private at = 0;
  private ended = false;
  /** Set at the end when the file stops inside a record. */
  tail: TruncatedTail | null = null;
  records = 0;
  private readonly follow: boolean;
  private readonly latency: number;
  private readonly signal: AbortSignal | undefined;

  /**
   * With follow (the default) a live file is read until the producer closes
   * it (or the signal aborts); without, until it is empty.
   */
  constructor(file: SourceFile, options: { follow?: boolean; latency?: number; signal?: AbortSignal } = {}) {
    this.file = file;
    this.follow = options.follow ?? true;
    this.latency = options.latency ?? 50;
    this.signal = options.signal;
  }

  /** The next record if one is decoded already; undefined when next() must read on. */
  take(): KlogRecord | undefined {
    if (this.at >= this.batch.length) return undefined;
    this.records++;
    return this.batch[this.at++];
  }

  /** The next record, or null at the end. */
  async next(): Promise<KlogRecord | null> {
    while (this.at >= this.batch.length) {
      if (this.ended) return null;
      await this.fill();
    }
    this.records++;
    return this.batch[this.at++]!;
  }

  /** Reads until at least one more record or the end. */
  private async fill(): Promise<void> {
    this.batch = [];
    this.at = 0;
    let idle = false;
    for (;;) {
      const chunk = await this.file.read();
      if (chunk.length === 0) {
        if (idle) await yieldToEventLoop(); // see record.ts: never spin on resolved promises
        const p = this.follow && !this.signal?.aborted ? await this.file.poll(this.latency) : { hangup: true, readable: false };
        idle = p.readable;
        if (!p.hangup) continue;
        const last = await this.file.read();
        if (last.length > 0) {
          this.batch = this.decode(last);
          if (this.batch.length) return;
          continue;
        }
        this.ended = true;
        this.tail = this.decoder.end();
        return;
      }
      this.batch = this.decode(chunk);
      if (this.batch.length) return;
    }
  }

  private decode(chunk: Uint8Array): KlogRecord[] {
    try {
      return this.decoder.push(chunk);
    } catch (err) {
      if (err instanceof KlogFormatError) throw new SourceError(err.code, `${this.file.entry.path}: ${err.detail}`, { cause: err });
      throw err;
    }
  }
}
