/**
 * The file-on-disk source: per-buffer files written by record or by a
 * flight-recorder dump (a directory of base0..baseN-1 and relayfs.json), or
 * any single file. Finished data: the "channel" hangs up at end of file.
 */
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BufferStats } from '../buffer/index.js';
import { SIDECAR_NAME, type Sidecar } from './summary.js';
import { SourceError, splitBufferName, type RelaySource, type SourceEntry, type SourceFile, type SourcePoll } from './source.js';

const CHUNK = 1 << 20;

export class DiskSource implements RelaySource {
  readonly description: string;
  readonly live = false;
  private readonly path: string;
  private readonly isDir: boolean;
  private sidecar: Sidecar | null | undefined;

  constructor(path: string) {
    this.path = path;
    this.description = path;
    let st;
    try {
      st = statSync(path);
    } catch (err) {
      throw new SourceError('ENOENT', `${path}: no such file or directory`);
    }
    if (!st.isDirectory() && !st.isFile()) throw new SourceError('EINVAL', `${path}: not a regular file or directory`);
    this.isDir = st.isDirectory();
  }

  async list(): Promise<SourceEntry[]> {
    if (!this.isDir) {
      const name = basename(this.path);
      return [{ name, path: this.path, cpu: splitBufferName(name)?.cpu ?? 0 }];
    }
    const entries = readdirSync(this.path, { withFileTypes: true })
      .filter((d) => d.isFile() && !d.name.startsWith('.') && !d.name.endsWith('.json') && !d.name.endsWith('.tmp'))
      .map((d) => ({ d, split: splitBufferName(d.name) }))
      .filter((e) => e.split !== null)
      .map(({ d, split }) => ({ name: d.name, path: join(this.path, d.name), cpu: split!.cpu }))
      .sort((a, b) => a.cpu - b.cpu || (a.name < b.name ? -1 : 1));
    if (entries.length === 0) {
      throw new SourceError('ENOENT', `${this.path}: no per-buffer files in it (names ending in a buffer number, like cpu0)`);
    }
    return entries;
  }

  async open(entry: SourceEntry): Promise<SourceFile> {
    let fh: FileHandle;
    try {
      fh = await open(entry.path, 'r');
    } catch {
      throw new SourceError('ENOENT', `${entry.path}: cannot be opened`);
    }
    const size = (await fh.stat()).size;
    return new DiskFile(entry, fh, size, this.statsFor(entry));
  }

  /** The counters the sidecar kept for this file, if there is a sidecar. */
  private statsFor(entry: SourceEntry): BufferStats | null {
    if (this.sidecar === undefined) {
      this.sidecar = null;
      try {
        const dir = this.isDir ? this.path : dirname(this.path);
        this.sidecar = JSON.parse(readFileSync(join(dir, SIDECAR_NAME), 'utf8')) as Sidecar;
      } catch {
        /* no sidecar, or not ours: no counters */
      }
    }
    return this.sidecar?.buffers?.find?.((b) => b.name === entry.name)?.stats ?? null;
  }
}

class DiskFile implements SourceFile {
  readonly entry: SourceEntry;
  readonly subbufSize = null;
  readonly nSubbufs = null;
  private readonly fh: FileHandle;
  private readonly size: number;
  private readonly counters: BufferStats | null;
  private position = 0;

  constructor(entry: SourceEntry, fh: FileHandle, size: number, counters: BufferStats | null) {
    this.entry = entry;
    this.fh = fh;
    this.size = size;
    this.counters = counters;
  }

  async read(): Promise<Uint8Array> {
    const want = Math.min(CHUNK, this.size - this.position);
    if (want <= 0) return new Uint8Array(0);
    const buf = new Uint8Array(want);
    const { bytesRead } = await this.fh.read(buf, 0, want, this.position);
    this.position += bytesRead;
    return buf.subarray(0, bytesRead);
  }

  async poll(): Promise<SourcePoll> {
    const left = this.position < this.size;
    return { readable: left, hangup: !left };
  }

  async stats(): Promise<BufferStats | null> {
    return this.counters;
  }

  async available(): Promise<number> {
    return this.size - this.position;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  async seek(offset: number): Promise<void> {
    if (!Number.isInteger(offset) || offset < 0 || offset > this.size) {
      throw new SourceError('EINVAL', `${this.entry.path}: cannot start at byte ${offset}: the file has ${this.size} bytes`);
    }
    this.position = offset;
  }
}
