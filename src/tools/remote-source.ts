/**
 * The remote source: relay files of another process, over the remote
 * protocol (docs/remote-protocol.md) with the RelayRemote client. It gives
 * record, cat and top the same SourceFile operations they use in-process:
 *
 * - read(): a plain consuming read (GET /v1/files/<path>), until the first
 *   poll(); from then on the chunks of a follow read (?follow=1), which the
 *   server sends at every sub-buffer boundary, flush and close, and within
 *   `latency` ms otherwise: the poll() of a relay file, across processes.
 *   So `cat` without -f makes plain reads only, and `record`, `cat -f` follow.
 * - poll(timeoutMs): waits for a chunk of the follow read, its end, or the time.
 * - stats(), available(): the server's counters (one listing serves every
 *   file of a directory source at each look); after the follow read ended
 *   with a hangup, the X-Relay-Stats trailer: the buffer's final counters.
 *
 * A follow read holds a connection for as long as it runs, and the server
 * refuses connections beyond its limit (64 by default), so at most
 * `maxFollows` files follow; the others keep to plain reads, polled every
 * `timeoutMs`. Short requests (reads, listings, stats) are limited to
 * `maxRequests` at a time.
 *
 * Source names: "unix:/path/to/sock" or "unix:/path/to/sock:/relay/path",
 * and "pid:4242" or "pid:4242:/relay/path" (the producer's socket in its
 * default place). Every failure is a SourceError with one line that says
 * what happened: no such socket, nobody serving there, the producer gone
 * in the middle of a read, no such relay file.
 */
import { lstatSync } from 'node:fs';
import type { BufferStats } from '../buffer/index.js';
import type { SourceErrorCode } from '../errors.js';
import { RelayRemote, RemoteError } from '../remote/client.js';
import type { EndReason, FileInfo, Listing } from '../remote/protocol.js';
import { defaultSocketPath, findSocket, listSockets } from '../remote/socket-dir.js';
import { registerSourceScheme } from './open-source.js';
import { SourceError, splitBufferName, type RelaySource, type SourceEntry, type SourceFile, type SourcePoll } from './source.js';
import { Semaphore } from './async.js';

export interface RemoteSourceOptions {
  /** The producer's Unix socket (its exposeRelayFiles().socketPath). */
  socketPath?: string;
  /** Or the producer's pid: its socket is looked up in the default place. */
  pid?: number;
  /** A relay directory or file in the producer (default "/": every relay file). */
  path?: string;
  /** Time limit for plain reads, listings and stats (ms, default 10000). */
  timeoutMs?: number;
  /** Files that may follow at once (default 32; the server's default connection limit is 64). */
  maxFollows?: number;
  /** Short requests at once (default 4). */
  maxRequests?: number;
}

/** How long one listing answers every file's stats() and available() (ms). */
const LISTING_REUSE_MS = 25;
/** How long a lost connection waits for the producer's exit to be reported, when its end is awaited. */
const PRODUCER_END_GRACE_MS = 5_000;
/** Received but not yet read bytes beyond which a follow read stops reading its socket (back-pressure). */
const HIGH_WATER = 8 << 20;

export class RemoteSource implements RelaySource {
  readonly description: string;
  readonly live = true;
  readonly remote: RelayRemote;
  readonly socketPath: string;
  /** The relay directory or file of the producer this source names. */
  readonly path: string;
  private readonly requests: Semaphore;
  private followSlots: number;
  private kind: 'dir' | 'file' | null = null;
  private readonly geometry = new Map<string, { subbufSize: number; nSubbufs: number }>();
  private listing: { at: number; answer: Promise<FileInfo[]> } | null = null;
  /** A request has been answered: a socket that disappears later means the producer went away. */
  private connected = false;
  /** Each file's info as last seen, so a file that went away since can still be opened (as ended). */
  private readonly lastSeen = new Map<string, FileInfo>();
  /** Resolves when the producer process has ended, when the caller knows (record -- CMD). */
  private producerEnd: Promise<void> | null = null;
  private producerEnded = false;

  constructor(options: RemoteSourceOptions) {
    if (options.socketPath !== undefined && options.pid !== undefined) {
      throw new SourceError('EINVAL', 'give the socket path or the pid of the producer, not both');
    }
    if (options.socketPath !== undefined) {
      if (typeof options.socketPath !== 'string' || options.socketPath.length === 0) throw new SourceError('EINVAL', 'no socket path given');
      this.socketPath = options.socketPath;
    } else if (options.pid !== undefined) {
      this.socketPath = socketOfPid(options.pid);
    } else {
      throw new SourceError('EINVAL', 'a remote source needs the socket path or the pid of the producer');
    }
    this.path = normalizeRelayPath(options.path ?? '/');
    this.remote = new RelayRemote({ socketPath: this.socketPath, timeoutMs: options.timeoutMs });
    this.requests = new Semaphore(options.maxRequests ?? 4);
    this.followSlots = options.maxFollows ?? 32;
    this.description = `unix:${this.socketPath}${this.path === '/' ? '' : `:${this.path}`}`;
  }

  async list(): Promise<SourceEntry[]> {
    this.checkSocket();
    let files: FileInfo[];
    if (this.path !== '/' && this.kind !== 'dir') {
      // A file or a directory? Ask for its stats: a directory answers EISDIR. (A plain GET of a file would consume it.)
      const info = await this.request(() => this.remote.stats(this.path), this.path).catch((err: unknown) => {
        if (err instanceof SourceError && err.code === 'EISDIR') return null;
        throw err;
      });
      if (info) {
        this.kind = 'file';
        files = [info];
        const parent = this.path.slice(0, this.path.lastIndexOf('/')) || '/';
        const listing = await this.request(() => this.remote.list(parent), parent).catch(() => null);
        if (listing) this.learnGeometry(listing);
      } else {
        this.kind = 'dir';
      }
    }
    if (this.kind !== 'file') {
      this.kind = 'dir';
      const listing = await this.request(() => this.remote.list(this.path), this.path);
      this.learnGeometry(listing);
      files = listing.files;
    }
    for (const f of files!) this.lastSeen.set(f.path, f);
    if (files!.length === 0) {
      throw new SourceError('ENOENT', `${this.description}: no relay files${this.path === '/' ? '' : ` under ${this.path}`} in that process (has it opened its channels?)`);
    }
    // Output names are the file names (cpu0, ...); paths when two directories use the same ones.
    const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
    const names = files!.map((f) => base(f.path));
    const unique = new Set(names).size === names.length;
    return files!
      .map((f) => ({
        name: unique ? base(f.path) : f.path.slice(1).replaceAll('/', '-'),
        path: f.path,
        cpu: Number.isInteger(f.cpu) ? f.cpu : (splitBufferName(base(f.path))?.cpu ?? 0),
      }))
      .sort((a, b) => a.cpu - b.cpu || (a.path < b.path ? -1 : 1));
  }

  async open(entry: SourceEntry): Promise<SourceFile> {
    this.checkSocket();
    if (this.kind === null) await this.list();
    let info: FileInfo | null;
    try {
      info = await this.info(entry.path);
    } catch (err) {
      if (!(err instanceof SourceError && (await this.endedByProducer(err)))) throw err;
      info = null;
    }
    const seen = info ?? this.lastSeen.get(entry.path);
    if (!seen) throw new SourceError('ENOENT', `${entry.path}: no such relay file in the process serving ${this.socketPath}`);
    const file = new RemoteFile(entry, this, seen, this.geometry.get(seen.channel) ?? null);
    // Listed before, not served now: its channel was closed and the file drained, or the producer has ended.
    if (!info) file.markGone();
    return file;
  }

  /**
   * Tells the source that the producer's process ends when `ended` settles
   * (record -- CMD knows it). From then on a lost connection is the end of
   * the data, not a failure: the producer's exit hook has sent everything.
   */
  producerEndsWith(ended: Promise<unknown>): void {
    const done = (): void => void (this.producerEnded = true);
    this.producerEnd = ended.then(done, done);
  }

  /** Whether a failure is the producer's own end (waiting briefly: its exit and the lost connection race). */
  async endedByProducer(err: SourceError): Promise<boolean> {
    if (!this.producerEnd || !isConnectionError(err)) return false;
    if (!this.producerEnded) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.producerEnd, new Promise((resolve) => (timer = setTimeout(resolve, PRODUCER_END_GRACE_MS)))]);
      clearTimeout(timer);
    }
    return this.producerEnded;
  }

  /**
   * The server's view of one file now: from one listing shared by every file
   * of a directory source, or the file's stats for a one-file source, either
   * reused for LISTING_REUSE_MS. Null when the file is no longer there (its
   * channel was closed and the file drained).
   */
  async info(path: string): Promise<FileInfo | null> {
    const now = performance.now();
    if (!this.listing || now - this.listing.at > LISTING_REUSE_MS) {
      // A one-file source asks for that file's stats; its answer has the same shape as a listing's entry.
      const ask: () => Promise<Listing | FileInfo> = this.kind === 'file' ? () => this.remote.stats(this.path) : () => this.remote.list(this.path);
      const answer = this.request(ask, this.path).then(
        (a): FileInfo[] => ('files' in a ? a.files : [a]),
        (err: unknown) => {
          // Not there any more: the file (or the directory, with its files) went away.
          if (err instanceof SourceError && err.code === 'ENOENT' && !isConnectionError(err)) return [];
          throw err;
        },
      );
      answer.catch(() => {}); // awaited by the caller; no unhandled rejection if a later one replaces it
      this.listing = { at: now, answer };
    }
    const files = await this.listing.answer;
    for (const f of files) this.lastSeen.set(f.path, f);
    return files.find((f) => f.path === path) ?? null;
  }

  /** Runs one short request (at most maxRequests at once); failures become SourceErrors. */
  async request<T>(fn: () => Promise<T>, path: string): Promise<T> {
    await this.requests.acquire();
    try {
      const answer = await fn();
      this.connected = true;
      return answer;
    } catch (err) {
      throw this.failure(err, path);
    } finally {
      this.requests.release();
    }
  }

  /** Takes a follow slot; false when all are in use. */
  takeFollowSlot(): boolean {
    if (this.followSlots <= 0) return false;
    this.followSlots--;
    return true;
  }

  giveBackFollowSlot(): void {
    this.followSlots++;
  }

  /** A client or server error as one line that says what happened. */
  failure(err: unknown, path: string): SourceError {
    if (err instanceof SourceError) return err;
    const sock = this.socketPath;
    if (err instanceof RemoteError) {
      if (err.status === 0) {
        switch (err.code) {
          case 'ENOENT':
            return connectionError(
              'ENOENT',
              this.connected
                ? `${sock}: the producer has gone (its socket was removed)`
                : `${sock}: no such socket (is the producer running, and has it called exposeRelayFiles()?)`,
            );
          case 'ECONNREFUSED':
            return connectionError('ECONNREFUSED', `${sock}: connection refused: nothing serves there any more (the producer has exited; the socket file is stale)`);
          case 'EACCES':
          case 'EPERM':
            return connectionError(err.code, `${sock}: permission denied (the socket belongs to another user)`);
          case 'ENOTSOCK':
            return connectionError(err.code, `${sock}: not a socket`);
          case 'ECONNRESET':
          case 'EPIPE':
            return connectionError('ECONNRESET', `the connection to ${sock} was lost in the middle of a read of ${path} (the producer exited or was killed)`);
          case 'ETIMEDOUT':
            return connectionError('ETIMEDOUT', `${sock}: no answer about ${path} in time (the producer's server is stuck?)`);
          case 'EBADPATH':
            return new SourceError('EBADPATH', `${path}: not a valid relay path: ${err.detail}`);
          default:
            return connectionError(err.code, `${sock}: ${err.detail}`);
        }
      }
      if (err.code === 'ENOENT') return new SourceError('ENOENT', `${path}: no such relay file or directory in the process serving ${sock}`);
      if (err.code === 'EBUSY') return connectionError('EBUSY', `${sock}: the producer's server is shutting down`);
      return new SourceError(err.code, `${sock}: ${path}: ${err.detail}`);
    }
    const e = err as NodeJS.ErrnoException;
    return new SourceError('EREMOTE', `${sock}: ${e?.message ?? String(err)}`, { cause: err });
  }

  private learnGeometry(listing: Listing): void {
    for (const c of listing.channels) this.geometry.set(c.id, { subbufSize: c.subbufSize, nSubbufs: c.nSubbufs });
  }

  /** A missing path or a file that is not a socket, said plainly before connecting. */
  private checkSocket(): void {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(this.socketPath).isSocket();
    } catch {
      throw connectionError('ENOENT', `${this.socketPath}: no such socket (is the producer running, and has it called exposeRelayFiles()?)`);
    }
    if (!isSocket) throw connectionError('ENOTSOCK', `${this.socketPath}: not a socket`);
  }
}

/** One relay file of the remote process. */
export class RemoteFile implements SourceFile {
  readonly entry: SourceEntry;
  readonly subbufSize: number | null;
  readonly nSubbufs: number | null;
  private readonly source: RemoteSource;
  /** Received chunks of the follow read, not read yet. */
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** 'follow' after the first poll (when a slot was free); 'poll' keeps to plain reads. */
  private mode: 'read' | 'follow' | 'poll' = 'read';
  private pump: Promise<void> | null = null;
  private readonly abort = new AbortController();
  /** Set when the data is over: 'hangup' (closed and drained), 'shutdown' (the server stopped), 'gone' (no longer served). */
  private ended: EndReason | 'gone' | null = null;
  private broken: SourceError | null = null;
  private lastStats: BufferStats | null;
  /** The counters the server sent as the data ended (X-Relay-Stats): final. */
  private finalStats: BufferStats | null = null;
  private waiter: (() => void) | null = null;
  private resume: (() => void) | null = null;
  private closed = false;
  /** Kept reads: the offset of the next byte a read returns (null: plain consuming reads). */
  private keptNext: number | null = null;
  /** Release wanted up to here; one release request in flight at a time. */
  private releaseWanted = 0;
  private releasing: Promise<void> | null = null;

  constructor(entry: SourceEntry, source: RemoteSource, info: FileInfo, geometry: { subbufSize: number; nSubbufs: number } | null) {
    this.entry = entry;
    this.source = source;
    this.lastStats = info.stats;
    this.subbufSize = geometry?.subbufSize ?? null;
    this.nSubbufs = geometry?.nSubbufs ?? null;
  }

  /** Why the data ended, once it has (null while it goes on). */
  get endReason(): EndReason | 'gone' | null {
    return this.ended;
  }

  async keep(offset: number | null): Promise<number> {
    const release = offset ?? undefined;
    const info = await this.source.request(() => this.source.remote.kept(this.entry.path, release), this.entry.path);
    this.keptNext = offset === null ? info.start : Math.min(Math.max(offset, info.start), info.end);
    this.releaseWanted = info.start;
    return this.keptNext;
  }

  release(offset: number): void {
    if (this.keptNext === null || offset <= this.releaseWanted) return;
    this.releaseWanted = offset;
    this.releasing ??= this.sendReleases().finally(() => (this.releasing = null));
  }

  /** Sends the wanted release, and again while it grew meanwhile; a failure is left to the reads to report. */
  private async sendReleases(): Promise<void> {
    try {
      for (let sent = -1; sent !== this.releaseWanted && !this.broken;) {
        sent = this.releaseWanted;
        await this.source.remote.kept(this.entry.path, sent);
      }
    } catch {
      /* the producer went away or the file is gone: reads say so */
    }
  }

  /** A kept read must start where the previous one ended; anything else means another reader took the window. */
  private checkOffset(offset: number | null): void {
    if (this.keptNext === null || offset === this.keptNext) return;
    throw new SourceError('EREMOTE', `${this.entry.path}: the producer's kept window resumed at byte ${offset}, not ${this.keptNext}: another kept reader took it over`);
  }

  async read(): Promise<Uint8Array> {
    if (this.queued > 0) return this.take();
    if (this.broken) throw this.broken;
    if (this.closed || this.ended || this.mode === 'follow') return EMPTY;
    try {
      const keep = this.keptNext ?? undefined;
      const r = await this.source.request(() => this.source.remote.read(this.entry.path, { keep }), this.entry.path);
      this.checkOffset(r.offset);
      if (this.keptNext !== null) this.keptNext += r.data.length;
      if (r.stats) this.lastStats = r.stats;
      if (r.reason === 'hangup' || r.reason === 'shutdown') this.end(r.reason, r.stats);
      return r.data;
    } catch (err) {
      if (err instanceof SourceError && ((err.code === 'ENOENT' && !isConnectionError(err)) || (await this.source.endedByProducer(err)))) {
        this.end('gone', null); // closed, drained and released by the server meanwhile, or the producer has ended
        return EMPTY;
      }
      throw err;
    }
  }

  /** Ended before it was opened: no longer served. */
  markGone(): void {
    this.end('gone', null);
  }

  async poll(timeoutMs: number): Promise<SourcePoll> {
    if (this.queued > 0) return { readable: true, hangup: this.ended !== null };
    if (this.broken) throw this.broken;
    if (this.closed || this.ended) return { readable: false, hangup: true };
    if (this.mode === 'read') this.startFollow(timeoutMs);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.waiter = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
    this.waiter = null;
    if (this.queued > 0) return { readable: true, hangup: this.ended !== null };
    if (this.broken) throw this.broken;
    // In 'poll' mode nothing tells: the caller's next read finds out.
    return { readable: false, hangup: this.closed || this.ended !== null };
  }

  async stats(): Promise<BufferStats | null> {
    if (this.finalStats) return this.finalStats;
    // The producer went away in the middle: its counters at that moment are unknown, and old ones would mislead.
    if (this.broken) return null;
    if (this.closed || this.ended === 'gone') return this.lastStats;
    const info = await this.source.info(this.entry.path);
    if (info) {
      this.lastStats = info.stats;
      return info.stats;
    }
    // No longer served: the channel was closed and the file drained (or it lingered too long).
    return this.lastStats ? { ...this.lastStats, closed: true } : null;
  }

  async available(): Promise<number> {
    if (this.ended || this.broken || this.closed) return this.queued;
    const info = await this.source.info(this.entry.path);
    return this.queued + (info?.available ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.resume?.();
    this.waiter?.();
    await this.pump;
    await this.releasing; // the last release reaches the producer, so it can forget those bytes now
    this.queue = [];
    this.queued = 0;
  }

  private startFollow(latencyMs: number): void {
    if (!this.source.takeFollowSlot()) {
      this.mode = 'poll';
      return;
    }
    this.mode = 'follow';
    const latency = Math.min(10_000, Math.max(1, Math.round(latencyMs) || 1));
    const follow = this.source.remote.follow(this.entry.path, { latency, signal: this.abort.signal, keep: this.keptNext ?? undefined });
    this.pump = (async () => {
      try {
        await follow.ready();
        this.checkOffset(follow.offset);
        for await (const chunk of follow) {
          if (chunk.length === 0) continue;
          if (this.keptNext !== null) this.keptNext += chunk.length;
          this.queue.push(chunk);
          this.queued += chunk.length;
          this.wake();
          // Not reading the socket makes the server wait too: it consumes only what the socket takes.
          if (this.queued >= HIGH_WATER && !this.closed) await new Promise<void>((resolve) => (this.resume = resolve));
          if (this.closed) break;
        }
        if (!this.closed) {
          const end = follow.end;
          if (end?.stats) this.lastStats = end.stats;
          if (end?.reason === 'replaced') throw new SourceError('EREMOTE', `${this.entry.path}: another kept reader took the producer's kept window over`);
          this.end(end?.reason ?? 'hangup', end?.stats ?? null);
        }
      } catch (err) {
        if (!this.closed) {
          const failure = this.source.failure(err, this.entry.path);
          // Not found: closed, drained and released by the server before the follow began (or the producer has ended).
          if ((failure.code === 'ENOENT' && !isConnectionError(failure)) || (await this.source.endedByProducer(failure))) this.end('gone', null);
          else this.broken = failure;
        }
      } finally {
        this.source.giveBackFollowSlot();
        this.wake();
      }
    })();
  }

  private end(reason: EndReason | 'gone', stats: BufferStats | null): void {
    this.ended = reason;
    if (stats && (reason === 'hangup' || stats.closed)) this.finalStats = stats;
  }

  private take(): Uint8Array {
    const parts = this.queue;
    this.queue = [];
    const n = this.queued;
    this.queued = 0;
    const resume = this.resume;
    this.resume = null;
    resume?.();
    if (parts.length === 1) return parts[0]!;
    return Buffer.concat(parts, n);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

const EMPTY = new Uint8Array(0);

/** The socket of process `pid`, found the way listSockets finds them; one clear line when there is none. */
export function socketOfPid(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new SourceError('EINVAL', `pid must be a whole number above 0, got ${String(pid)}`);
  const found = findSocket(pid);
  if (found) return found;
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    alive = (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!alive) throw new SourceError('ESRCH', `no process with pid ${pid}`);
  const others = listSockets().map((s) => s.pid);
  throw new SourceError(
    'ENOENT',
    `process ${pid} does not expose its relay files (no socket at ${defaultSocketPath(pid)}; it must call exposeRelayFiles())` +
      (others.length ? `; processes that do: ${others.join(', ')}` : ''),
  );
}

/** Splits "SOCKET" or "SOCKET:/relay/path" (the part after "unix:"). */
export function parseUnixSpec(rest: string): { socketPath: string; path: string } {
  if (rest.length === 0) throw new SourceError('EINVAL', 'unix: needs a socket path, as in unix:/tmp/relayfs-4242/root.sock');
  // A socket path that exists is taken whole, even with a ':' in it.
  let exists = false;
  try {
    lstatSync(rest);
    exists = true;
  } catch {
    /* split it */
  }
  const at = exists ? -1 : rest.lastIndexOf(':/');
  return at > 0 ? { socketPath: rest.slice(0, at), path: rest.slice(at + 1) } : { socketPath: rest, path: '/' };
}

/** Splits "PID" or "PID:/relay/path" (the part after "pid:"). */
export function parsePidSpec(rest: string): { pid: number; path: string } {
  const m = /^(\d+)(?::(\/.*))?$/.exec(rest);
  if (!m) throw new SourceError('EINVAL', `pid:${rest}: expected pid:PID or pid:PID:/relay/path`);
  return { pid: Number(m[1]), path: m[2] ?? '/' };
}

/** "/trace/" → "/trace"; a relay path is absolute. */
function normalizeRelayPath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new SourceError('EINVAL', `${String(path)}: a relay path in the producer starts with "/", like /trace or /trace/cpu0`);
  }
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** SourceErrors that mean "the connection failed", as opposed to the server's answer. */
const connectionErrors = new WeakSet<SourceError>();

function connectionError(code: SourceErrorCode, message: string, cause?: unknown): SourceError {
  const err = new SourceError(code, message, cause === undefined ? undefined : { cause });
  connectionErrors.add(err);
  return err;
}

function isConnectionError(err: SourceError): boolean {
  return connectionErrors.has(err);
}

registerSourceScheme('unix', (rest) => new RemoteSource(parseUnixSpec(rest)));
registerSourceScheme('pid', (rest) => new RemoteSource(parsePidSpec(rest)));
