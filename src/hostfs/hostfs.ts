/**
 * The host filesystem of relay files (the debugfs analog): directories and
 * files that createBufFile makes and removeBufFile removes, openable by path
 * from any thread of the process.
 *
 * Each thread has its own HostFs object per filesystem name; they keep one
 * tree in step over a BroadcastChannel. A change is applied locally at once
 * and broadcast; a thread that joins late asks the others to resend what
 * they created. Entries carry the channel's shared memory, so opening a file
 * needs no help from the thread that made it once its entry has arrived.
 */
import { BroadcastChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { ChannelHandle, RelayBuffer } from '../channel/channel.js';
import { RelayError, invalidArg } from '../errors.js';
import { checkEntryName, joinPath, normalizePath, parentOf } from './path.js';
import { RelayFile } from './relay-file.js';

/** What createDir / createFile return: the kernel's dentry. */
export interface RelayDentry {
  readonly fs: string;
  readonly path: string;
  readonly kind: 'dir' | 'file';
}

export interface FileEntry extends RelayDentry {
  readonly kind: 'file';
  readonly mode: number;
  readonly handle: ChannelHandle;
  readonly cpu: number;
}

interface DirEntry extends RelayDentry {
  readonly kind: 'dir';
  readonly mode: number;
}

type Entry = FileEntry | DirEntry;

type Message = { op: 'add'; entries: Entry[] } | { op: 'remove'; paths: string[] } | { op: 'sync' };

export interface DirListing {
  name: string;
  path: string;
  kind: 'dir' | 'file';
}

export interface OpenOptions {
  /** How long to wait for an entry another thread made but whose news has not arrived yet (ms). */
  timeout?: number;
}

const filesystems = new Map<string, HostFs>();

export class HostFs {
  readonly name: string;
  private readonly entries = new Map<string, Entry>();
  /** Paths this thread created: it answers for them when a late thread asks. */
  private readonly owned = new Set<string>();
  private port: BroadcastChannel | null = null;

  /** The HostFs object of this thread for a filesystem name ('root' is the default one). */
  static get(name = 'root'): HostFs {
    let fs = filesystems.get(name);
    if (!fs) filesystems.set(name, (fs = new HostFs(name)));
    return fs;
  }

  private constructor(name: string) {
    this.name = checkEntryName(name);
    this.entries.set('/', { fs: name, path: '/', kind: 'dir', mode: 0o755 });
  }

  /** debugfs_create_dir: a directory under parent (the root when null). */
  createDir(name: string, parent: RelayDentry | null = null, mode = 0o755): RelayDentry {
    const path = joinPath(this.dirPath(parent), checkEntryName(name));
    this.sync();
    if (this.entries.has(path)) throw new RelayError('EEXIST', `${path} already exists`);
    const entry: DirEntry = { fs: this.name, path, kind: 'dir', mode };
    this.add(entry);
    return dentryOf(entry);
  }

  /** debugfs_create_file with the relay file operations: the file for one channel buffer. */
  createFile(name: string, mode: number, parent: RelayDentry | null, buf: RelayBuffer): RelayDentry {
    const path = joinPath(this.dirPath(parent), checkEntryName(name));
    this.sync();
    if (this.entries.has(path)) throw new RelayError('EEXIST', `${path} already exists`);
    const entry: FileEntry = { fs: this.name, path, kind: 'file', mode, handle: buf.chan.handle(), cpu: buf.cpu };
    this.add(entry);
    return dentryOf(entry);
  }

  /** debugfs_remove: a file, or an empty directory. Open files stay readable. */
  remove(dentry: RelayDentry): void {
    const path = this.pathOf(dentry);
    if (path === '/') throw invalidArg('the root directory cannot be removed');
    this.sync();
    if (!this.entries.has(path)) throw new RelayError('ENOENT', `${path} does not exist`);
    if (this.children(path).length > 0) throw new RelayError('ENOTEMPTY', `${path} is not empty`);
    this.drop([path]);
  }

  /** debugfs_remove_recursive: a directory and everything below it. */
  removeRecursive(dentry: RelayDentry): void {
    const path = this.pathOf(dentry);
    this.sync();
    const doomed = [...this.entries.keys()].filter((p) => p !== '/' && (p === path || p.startsWith(path === '/' ? '/' : `${path}/`)));
    this.drop(doomed);
  }

  /** The dentry at a path, or null. */
  lookup(path: string): RelayDentry | null {
    this.sync();
    const entry = this.entries.get(normalizePath(path));
    return entry ? dentryOf(entry) : null;
  }

  /** The entries of a directory, sorted by name. */
  readdir(path = '/'): DirListing[] {
    const dir = normalizePath(path);
    this.sync();
    const entry = this.entries.get(dir);
    if (!entry) throw new RelayError('ENOENT', `${dir} does not exist`);
    if (entry.kind !== 'dir') throw new RelayError('ENOTDIR', `${dir} is not a directory`);
    return this.children(dir)
      .map((e) => ({ name: e.path.slice(e.path.lastIndexOf('/') + 1), path: e.path, kind: e.kind }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Every relay file below a directory. */
  files(path = '/'): FileEntry[] {
    const dir = normalizePath(path);
    this.sync();
    const prefix = dir === '/' ? '/' : `${dir}/`;
    return [...this.entries.values()].filter((e): e is FileEntry => e.kind === 'file' && e.path.startsWith(prefix));
  }

  /**
   * open(): an existing relay file, from any thread. Waits up to
   * options.timeout ms (default 250) for news of a file another thread made.
   */
  async open(path: string, options: OpenOptions = {}): Promise<RelayFile> {
    const target = normalizePath(path);
    this.sync();
    if (!this.entries.has(target)) {
      this.post({ op: 'sync' });
      const deadline = Date.now() + (options.timeout ?? 250);
      while (!this.entries.has(target) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        this.sync();
      }
    }
    return this.openSync(target);
  }

  /** open() for a file whose entry this thread already has. */
  openSync(path: string): RelayFile {
    const target = normalizePath(path);
    this.sync();
    const entry = this.entries.get(target);
    if (!entry) throw new RelayError('ENOENT', `no relay file at ${target}`);
    if (entry.kind !== 'file') throw new RelayError('EISDIR', `${target} is a directory, not a relay file`);
    return RelayFile.open(entry);
  }

  // ---------------------------------------------------------------- internals

  private dirPath(parent: RelayDentry | null): string {
    if (parent === null || parent === undefined) return '/';
    const path = this.pathOf(parent);
    const entry = this.entries.get(path);
    if (!entry) throw new RelayError('ENOENT', `parent ${path} does not exist`);
    if (entry.kind !== 'dir') throw new RelayError('ENOTDIR', `parent ${path} is not a directory`);
    return path;
  }

  private pathOf(dentry: RelayDentry): string {
    if (!dentry || typeof dentry !== 'object' || typeof dentry.path !== 'string') throw invalidArg('expected a dentry made by this host filesystem');
    if (dentry.fs !== this.name) throw invalidArg(`dentry ${dentry.path} belongs to host filesystem ${dentry.fs}, not ${this.name}`);
    return normalizePath(dentry.path);
  }

  private children(dir: string): Entry[] {
    return [...this.entries.values()].filter((e) => e.path !== '/' && parentOf(e.path) === dir);
  }

  private add(entry: Entry): void {
    this.entries.set(entry.path, entry);
    this.owned.add(entry.path);
    this.post({ op: 'add', entries: [entry] });
  }

  private drop(paths: string[]): void {
    for (const p of paths) {
      this.entries.delete(p);
      this.owned.delete(p);
    }
    if (paths.length) this.post({ op: 'remove', paths });
  }

  /** Joins the filesystem's broadcast group on first use; late joiners ask for a resend. */
  private channel(): BroadcastChannel {
    if (this.port) return this.port;
    const port = new BroadcastChannel(`relayfs:hostfs:${this.name}`);
    port.onmessage = (ev: unknown) => this.apply((ev as { data: Message }).data);
    port.unref(); // the filesystem never keeps a process alive
    this.port = port;
    port.postMessage({ op: 'sync' } satisfies Message);
    return port;
  }

  private post(message: Message): void {
    this.channel().postMessage(message);
  }

  /** Applies news that has arrived but not been dispatched yet. */
  private sync(): void {
    // Node accepts a BroadcastChannel here; its typings only name MessagePort.
    const port = this.channel() as unknown as Parameters<typeof receiveMessageOnPort>[0];
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) this.apply(m.message as Message);
  }

  private apply(message: Message): void {
    switch (message?.op) {
      case 'add':
        for (const e of message.entries) if (!this.owned.has(e.path)) this.entries.set(e.path, e);
        break;
      case 'remove':
        for (const p of message.paths) {
          this.entries.delete(p);
          this.owned.delete(p);
        }
        break;
      case 'sync': {
        const mine = [...this.owned].map((p) => this.entries.get(p)).filter((e): e is Entry => e !== undefined);
        if (mine.length) this.port?.postMessage({ op: 'add', entries: mine } satisfies Message);
        break;
      }
    }
  }
}

function dentryOf(entry: Entry): RelayDentry {
  return { fs: entry.fs, path: entry.path, kind: entry.kind };
}

/** This thread's object for the default host filesystem (like debugfs at /sys/kernel/debug). */
export const hostfs: HostFs = HostFs.get('root');

/**
 * The spec's typical createBufFile / removeBufFile pair over a host
 * filesystem. With { global: true } the channel gets one global buffer.
 */
export function hostfsCallbacks(fs: HostFs = hostfs, options: { global?: boolean } = {}) {
  return {
    createBufFile(filename: string, parent: unknown, mode: number, buf: RelayBuffer, isGlobal: { value: boolean }): RelayDentry {
      if (options.global) isGlobal.value = true;
      return fs.createFile(filename, mode, (parent as RelayDentry | null) ?? null, buf);
    },
    removeBufFile(dentry: unknown): void {
      fs.remove(dentry as RelayDentry);
    },
  };
}
