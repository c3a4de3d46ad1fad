/** The in-process source: relay files of a host filesystem directory (or one file) of this process. */
import { RelayError } from '../errors.js';
import { hostfs as defaultFs, type HostFs } from '../hostfs/hostfs.js';
import type { RelayFile } from '../hostfs/relay-file.js';
import { splitBufferName, type RelaySource, type SourceEntry, type SourceFile, type SourcePoll } from './source.js';

export class HostfsSource implements RelaySource {
  readonly description: string;
  readonly live = true;
  private readonly fs: HostFs;
  private readonly path: string;

  /** `path` is a directory (every relay file in it) or one relay file. */
  constructor(path: string, fs: HostFs = defaultFs) {
    this.fs = fs;
    this.path = path;
    this.description = `hostfs:${path}`;
  }

  async list(): Promise<SourceEntry[]> {
    const dentry = this.fs.lookup(this.path);
    if (!dentry) throw new RelayError('ENOENT', `no relay file or directory at ${this.description}`);
    const files = dentry.kind === 'file' ? [{ path: dentry.path }] : this.fs.readdir(dentry.path).filter((e) => e.kind === 'file');
    return files
      .map((f, i) => {
        const name = f.path.slice(f.path.lastIndexOf('/') + 1);
        return { name, path: f.path, cpu: splitBufferName(name)?.cpu ?? i };
      })
      .sort((a, b) => a.cpu - b.cpu || (a.name < b.name ? -1 : 1));
  }

  async open(entry: SourceEntry): Promise<SourceFile> {
    return new HostfsFile(entry, await this.fs.open(entry.path));
  }
}

/** A RelayFile behind the SourceFile interface. */
export class HostfsFile implements SourceFile {
  readonly entry: SourceEntry;
  readonly subbufSize: number;
  readonly nSubbufs: number;
  readonly file: RelayFile;

  constructor(entry: SourceEntry, file: RelayFile) {
    this.entry = entry;
    this.file = file;
    this.subbufSize = file.subbufSize;
    this.nSubbufs = file.nSubbufs;
  }

  async read(): Promise<Uint8Array> {
    return this.file.read();
  }

  async poll(timeoutMs: number): Promise<SourcePoll> {
    const r = await this.file.poll(timeoutMs);
    return { readable: r.readable, hangup: r.hangup };
  }

  async stats() {
    return this.file.stats();
  }

  async available(): Promise<number> {
    return this.file.available();
  }

  async close(): Promise<void> {
    if (!this.file.closed) this.file.close();
  }
}
