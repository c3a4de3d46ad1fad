/**
 * The serving thread's view of the relay tree, and the relay files it holds
 * open. Entries come from this thread's HostFs (kept in step by broadcast)
 * plus "seed" entries the producer passed in: files made before this thread
 * joined the broadcast are only announced when their owner's event loop
 * answers, and a busy producer must not keep them hidden.
 *
 * A file this thread already holds open stays reachable by its path after
 * its channel is closed and the file removed, until it is drained (or
 * `lingerMs` pass): the server is the process holding the descriptor, and a
 * remote reader should not lose the tail to a race with relayClose.
 */
import { ChannelControl } from '../channel/channel.js';
import { type HostFs, RelayFile, type FileEntry } from '../hostfs/index.js';
import { KeptWindow } from './kept-window.js';

interface Held {
  file: RelayFile;
  entry: FileEntry;
  leases: number;
  /** When the entry disappeared from the tree (ms), or null while it is there. */
  goneSince: number | null;
  /** What kept reads sent and nobody released yet (made by the first kept request). */
  kept: KeptWindow | null;
}

/** A relay file lent to one request; release() when the request is done. */
export interface Lease {
  readonly file: RelayFile;
  readonly entry: FileEntry;
  /** The file's kept window, made (starting at the bytes read so far) if it has none. */
  kept(): KeptWindow;
  release(): void;
}

const keyOf = (e: FileEntry): string => `${e.handle.id}/${e.cpu}`;
const byPath = (a: FileEntry, b: FileEntry): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

export class FileTable {
  readonly fs: HostFs;
  private readonly lingerMs: number;
  private readonly seeds = new Map<string, FileEntry>();
  private readonly held = new Map<string, Held>();

  constructor(fs: HostFs, seeds: readonly FileEntry[], lingerMs = 30_000) {
    this.fs = fs;
    this.lingerMs = lingerMs;
    this.addSeeds(seeds);
  }

  /** Adds entries the producer listed (at start, and again once we listen to the broadcast). */
  addSeeds(entries: readonly FileEntry[]): void {
    for (const e of entries) if (e && e.kind === 'file' && typeof e.path === 'string') this.seeds.set(e.path, e);
  }

  /** Every relay file below `dir`, sorted by path. */
  files(dir = '/'): FileEntry[] {
    const all = this.tree();
    for (const h of this.held.values()) {
      if (!all.has(h.entry.path) && !h.file.closed && !this.drained(h)) all.set(h.entry.path, h.entry);
    }
    const prefix = dir === '/' ? '/' : `${dir}/`;
    return [...all.values()].filter((e) => e.path.startsWith(prefix)).sort(byPath);
  }

  /** The file at `path`, if any. */
  file(path: string): FileEntry | undefined {
    return this.files().find((e) => e.path === path);
  }

  /** Whether `path` is a directory: made with createDir, or holding files. */
  isDir(path: string): boolean {
    if (path === '/') return true;
    if (this.fs.lookup(path)?.kind === 'dir') return true;
    return this.files(path).length > 0;
  }

  /**
   * Opens (or shares) the relay file of an entry. One RelayFile per buffer
   * serves every request: its reads are atomic under the buffer's read lock,
   * so concurrent readers still never get the same bytes. Throws ENOENT
   * when the channel has been closed and released.
   */
  lease(entry: FileEntry): Lease {
    const key = keyOf(entry);
    let held = this.held.get(key);
    if (!held || held.file.closed) {
      held = { file: RelayFile.open(entry), entry, leases: 0, goneSince: null, kept: null };
      this.held.set(key, held);
    }
    held.leases++;
    const h = held;
    let released = false;
    return {
      file: h.file,
      entry,
      kept: () => (h.kept ??= new KeptWindow(h.file.stats().bytesRead, entry.handle.subbufSize * entry.handle.nSubbufs)),
      release: () => {
        if (released) return;
        released = true;
        h.leases--;
        if (h.leases === 0) this.sweep();
      },
    };
  }

  /**
   * Closes files no request uses whose entry is gone and that are drained
   * or have lingered long enough, so the channel's memory can be released.
   */
  sweep(now = Date.now()): void {
    const live = new Set([...this.tree().values()].map(keyOf));
    for (const [key, h] of this.held) {
      if (live.has(key)) {
        h.goneSince = null;
        continue;
      }
      h.goneSince ??= now;
      if (h.leases > 0) continue;
      if (h.file.closed || this.drained(h) || now - h.goneSince >= this.lingerMs) {
        this.held.delete(key);
        if (!h.file.closed) h.file.close();
      }
    }
  }

  /** Closes every held file (server shutdown). */
  closeAll(): void {
    for (const h of this.held.values()) if (!h.file.closed) h.file.close();
    this.held.clear();
  }

  /** The files now in the tree: the broadcast's, plus seeds it has not confirmed yet. */
  private tree(): Map<string, FileEntry> {
    const live = new Map<string, FileEntry>();
    for (const e of this.fs.files()) live.set(e.path, e);
    for (const [path, e] of this.seeds) {
      // Once the broadcast has told us about a path, it is the authority on it.
      if (live.has(path) || new ChannelControl(e.handle.control).closed) this.seeds.delete(path);
      else live.set(path, e);
    }
    return live;
  }

  /** Closed, nothing left to read, and nothing kept that a reader may still ask for again. */
  private drained(h: Held): boolean {
    return h.file.hangup && h.file.available() === 0 && (h.kept === null || h.kept.size === 0);
  }
}
