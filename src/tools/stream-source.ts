/**
 * A byte stream as a one-file source: `-` (standard input) for cat and merge,
 * as in `relayfs cat - < cpu0` or `ssh host cat trace/cpu0 | relayfs cat -`.
 * Finished data, like a file on disk: the "channel" hangs up at the end of
 * the stream.
 */
import type { Readable } from 'node:stream';
import type { BufferStats } from '../buffer/index.js';
import { SourceError, type RelaySource, type SourceEntry, type SourceFile, type SourcePoll } from './source.js';

export class StreamSource implements RelaySource {
  readonly description: string;
  readonly live = false;
  private readonly stream: Readable;
  private opened = false;

  constructor(stream: Readable, description = '-') {
    this.stream = stream;
    this.description = description;
  }

  async list(): Promise<SourceEntry[]> {
    return [{ name: this.description === '-' ? 'stdin' : this.description, path: this.description, cpu: 0 }];
  }

  async open(entry: SourceEntry): Promise<SourceFile> {
    if (this.opened) throw new SourceError('EINVAL', `${this.description}: a stream can be read once`);
    this.opened = true;
    return new StreamFile(entry, this.stream);
  }
}

class StreamFile implements SourceFile {
  readonly entry: SourceEntry;
  readonly subbufSize = null;
  readonly nSubbufs = null;
  private readonly chunks: AsyncIterator<Buffer | string>;
  private ended = false;

  constructor(entry: SourceEntry, stream: Readable) {
    this.entry = entry;
    this.chunks = stream[Symbol.asyncIterator]();
  }

  /** The next chunk of the stream, waiting for it; empty at its end. */
  async read(): Promise<Uint8Array> {
    if (this.ended) return new Uint8Array(0);
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return new Uint8Array(0);
    }
    return typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
  }

  async poll(): Promise<SourcePoll> {
    return { readable: !this.ended, hangup: this.ended };
  }

  async stats(): Promise<BufferStats | null> {
    return null;
  }

  async available(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    this.ended = true;
    await this.chunks.return?.();
  }
}
