/**
 * A client for the remote protocol: list, stats, a consuming read and
 * follow (an async iterator of byte chunks) against another process's
 * relay files. The bodies are the relay file's bytes with padding removed;
 * HTTP chunk boundaries mean nothing, so parse messages from the stream.
 */
import { request, type IncomingMessage } from 'node:http';
import type { BufferStats } from '../buffer/index.js';
import { RelayError, describe, invalidArg, messageOf, type RemoteErrorCode } from '../errors.js';
import {
  END_TRAILER,
  OFFSET_HEADER,
  ProtocolError,
  STATS_TRAILER,
  STATUS,
  encodePath,
  type EndReason,
  type ErrorBody,
  type FileInfo,
  type Listing,
  type ServerInfo,
} from './protocol.js';
import { findSocket } from './socket-dir.js';

export interface RemoteOptions {
  /** The producer's Unix socket (exposeRelayFiles().socketPath). */
  socketPath?: string;
  /** Or: the producer's pid, to find its socket in the default place. */
  pid?: number;
  /** Host filesystem name for the default socket path (default 'root'). */
  fs?: string;
  /** Or: the TCP URL (http://127.0.0.1:PORT); needs `token`. */
  url?: string;
  token?: string;
  /** Time limit for list, stats and plain reads (ms, default 10000). Follow has none. */
  timeoutMs?: number;
}

export interface RemoteReadOptions {
  /** Stop after this many bytes (may end inside a message, like read(2)). */
  max?: number;
  /**
   * A kept read: start at this offset of the file's kept window, and have the
   * producer keep what it sends until released with kept(path, offset).
   */
  keep?: number;
  signal?: AbortSignal;
}

export interface RemoteFollowOptions {
  /** Longest wait before data of a partly filled sub-buffer is sent (ms, 1..10000, default 50). */
  latency?: number;
  max?: number;
  /** A kept follow (see RemoteReadOptions.keep). */
  keep?: number;
  signal?: AbortSignal;
}

/** A file's kept window: bytes from `start` to `end` are kept until released; at most `capacity`. */
export interface RemoteKeptInfo {
  path: string;
  start: number;
  end: number;
  capacity: number;
}

/** How a read ended, from the response trailers. */
export interface ReadEnd {
  reason: EndReason;
  /** The file's counters as the read ended (null if the server could not send them). */
  stats: BufferStats | null;
}

export interface ReadResult extends ReadEnd {
  data: Uint8Array;
  /** A kept read: the offset of data[0] in the kept window (null for a plain read). */
  offset: number | null;
}

/** An error from the server (status ≥ 400, code from the JSON body) or from the connection (status 0). */
export class RemoteError extends RelayError {
  declare readonly code: RemoteErrorCode;
  readonly status: number;
  constructor(code: RemoteErrorCode, status: number, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'RemoteError';
    this.status = status;
  }
}

/** Connection failures keep their system code when it is one callers branch on. */
const CONNECTION_CODES = new Set<string>(['ECONNREFUSED', 'ECONNRESET', 'EACCES', 'EPERM', 'ENOTSOCK', 'EPIPE', 'ETIMEDOUT', 'ENOENT']);

function connectionCode(err: NodeJS.ErrnoException): RemoteErrorCode {
  return err.code !== undefined && CONNECTION_CODES.has(err.code) ? (err.code as RemoteErrorCode) : 'ECONNECT';
}

export class RelayRemote {
  private readonly where: { socketPath: string } | { pid: number; fs: string } | { host: string; port: number };
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  /** Where this client connects, for messages. */
  readonly address: string;

  constructor(options: RemoteOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArg(`RelayRemote options must be an object, got ${describe(options)}`);
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (options.url !== undefined) {
      const url = new URL(options.url);
      if (url.protocol !== 'http:') throw invalidArg(`url must be http://host:port, got ${options.url}`);
      this.where = { host: url.hostname, port: Number(url.port || 80) };
      this.address = url.origin;
    } else if (options.socketPath !== undefined) {
      this.where = { socketPath: options.socketPath };
      this.address = options.socketPath;
    } else {
      const pid = options.pid ?? process.pid;
      if (!Number.isInteger(pid) || pid <= 0) throw invalidArg(`pid must be a whole number above 0, got ${describe(pid)}`);
      // Looked up (and its owner and mode checked) at every request: a socket can come, go, or be planted later.
      this.where = { pid, fs: options.fs ?? 'root' };
      this.address = `pid ${pid}`;
    }
  }

  /** Where to connect now; a pid's socket only if this user owns it, in a directory only this user can enter. */
  private target(): { socketPath: string } | { host: string; port: number } {
    if (!('pid' in this.where)) return this.where;
    const socketPath = findSocket(this.where.pid, this.where.fs);
    if (socketPath === null) {
      throw new RemoteError(
        'ENOENT',
        0,
        `process ${this.where.pid} exposes no relay files for you: no socket of yours in a private relayfs-${this.where.pid} directory (it must call exposeRelayFiles())`,
      );
    }
    return { socketPath };
  }

  /** GET /v1: who is serving. */
  async info(): Promise<ServerInfo> {
    return this.json<ServerInfo>('/v1');
  }

  /** GET /v1/files[/dir]: channels and files with their counters. */
  async list(dir = '/'): Promise<Listing> {
    const encoded = encodeOrThrow(dir);
    return this.json<Listing>(encoded ? `/v1/files/${encoded}` : '/v1/files');
  }

  /** GET /v1/files/<path>/stats */
  async stats(path: string): Promise<FileInfo> {
    return this.json<FileInfo>(`/v1/files/${filePath(path)}/stats`);
  }

  /**
   * GET /v1/files/<path>/kept: the file's kept window (made if it has none,
   * starting at the bytes read so far), after releasing the bytes below
   * `release`: the reader has stored them and will not ask for them again.
   */
  async kept(path: string, release?: number): Promise<RemoteKeptInfo> {
    return this.json<RemoteKeptInfo>(`/v1/files/${filePath(path)}/kept${release === undefined ? '' : `?release=${offsetParam('release', release)}`}`);
  }

  /** A consuming read of what is readable now (padding removed, whole messages unless `max` cuts one). */
  async read(path: string, options: RemoteReadOptions = {}): Promise<ReadResult> {
    const res = await this.get(readTarget(path, { max: options.max, keep: options.keep }), options.signal, this.timeoutMs);
    const parts: Buffer[] = [];
    for await (const chunk of body(res, this.address)) parts.push(chunk);
    const end = endOf(res);
    return { data: parts.length === 1 ? parts[0]! : Buffer.concat(parts), offset: offsetOf(res), ...end }; // a Buffer is a Uint8Array: no extra copy
  }

  /**
   * Follows a file: chunks as they arrive, until the channel is closed and
   * drained (or `max`, or the server shuts down). Breaking out of the loop
   * disconnects; only bytes already sent to this client are lost.
   */
  follow(path: string, options: RemoteFollowOptions = {}): RemoteFollow {
    const target = readTarget(path, { follow: true, latency: options.latency, max: options.max, keep: options.keep }); // bad arguments throw here, not later
    return new RemoteFollow(() => this.get(target, options.signal, 0));
  }

  private async json<T>(target: string): Promise<T> {
    const res = await this.get(target, undefined, this.timeoutMs);
    const text = await readText(res, 16 * 1024 * 1024);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new RemoteError('EPROTO', res.statusCode ?? 0, `${target}: the server sent invalid JSON`);
    }
  }

  /** Sends a GET; resolves with a 2xx response, rejects with a RemoteError otherwise. */
  private get(target: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request({
        ...this.target(),
        path: target,
        method: 'GET',
        agent: false,
        signal,
        headers: { Host: 'relayfs', ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) },
      });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new RemoteError('ETIMEDOUT', 0, `${target}: no answer from ${this.address} within ${timeoutMs} ms`)));
      }
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(err instanceof RemoteError ? err : new RemoteError(connectionCode(err), 0, `${this.address}: ${err.message}`, { cause: err }));
      });
      req.on('response', (res) => {
        if (res.statusCode !== undefined && res.statusCode < 300) {
          if (timeoutMs > 0) req.setTimeout(0); // the response has begun; a body may take its time
          resolve(res);
          return;
        }
        readText(res, 64 * 1024).then(
          (text) => reject(errorFrom(res.statusCode ?? 0, text)),
          (err) => reject(err),
        );
      });
      req.end();
    });
  }
}

/** The chunks of a follow read; `end` tells how it ended once iteration is over. */
export class RemoteFollow implements AsyncIterable<Uint8Array> {
  end: ReadEnd | null = null;
  /** A kept follow: the offset of its first byte, known once ready() has resolved. */
  offset: number | null = null;
  private readonly open: () => Promise<IncomingMessage>;
  private response: Promise<IncomingMessage> | null = null;
  private started = false;

  constructor(open: () => Promise<IncomingMessage>) {
    this.open = open;
  }

  /**
   * Sends the request if iteration has not yet, and resolves once the server
   * has opened the file: from then on nothing written to it is missed, even
   * if the channel is closed before the first chunk arrives.
   */
  async ready(): Promise<void> {
    await this.request();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.started) throw new RelayError('ERELAY_INVALID_STATE', 'a RemoteFollow can be iterated once');
    this.started = true;
    const res = await this.request();
    try {
      yield* body(res, 'the server');
      this.end = endOf(res);
    } finally {
      if (!res.complete) res.destroy(); // the consumer stopped early: disconnect
    }
  }

  private request(): Promise<IncomingMessage> {
    return (this.response ??= this.open().then((res) => {
      this.offset = offsetOf(res);
      return res;
    }));
  }
}

/** A connected client (the constructor does not connect; this is a shorthand). */
export function connectRemote(options: RemoteOptions = {}): RelayRemote {
  return new RelayRemote(options);
}

/** encodePath, failing with a RemoteError like everything else here. */
function encodeOrThrow(path: string): string {
  if (typeof path !== 'string') throw new RemoteError('EBADPATH', 0, 'a relay path must be a string');
  try {
    return encodePath(path);
  } catch (err) {
    if (err instanceof ProtocolError) throw new RemoteError(err.code, 0, err.detail);
    throw err;
  }
}

function filePath(path: string): string {
  const encoded = encodeOrThrow(path);
  if (!encoded) throw new RemoteError('EBADPATH', 0, 'a relay file path is needed');
  return encoded;
}

function readTarget(path: string, q: { follow?: boolean; latency?: number; max?: number; keep?: number }): string {
  const params: string[] = [];
  if (q.follow) params.push('follow=1');
  if (q.latency !== undefined) params.push(`latency=${q.latency}`);
  if (q.max !== undefined) params.push(`max=${q.max}`);
  if (q.keep !== undefined) params.push(`keep=${offsetParam('keep', q.keep)}`);
  return `/v1/files/${filePath(path)}${params.length ? `?${params.join('&')}` : ''}`;
}

function offsetParam(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArg(`${name} must be a whole number of bytes from 0, got ${describe(value)}`);
  return value;
}

/** The X-Relay-Offset header of a kept read, or null. */
function offsetOf(res: IncomingMessage): number | null {
  const raw = res.headers[OFFSET_HEADER.toLowerCase()];
  if (typeof raw !== 'string') return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RemoteError('EPROTO', res.statusCode ?? 0, `the server sent a bad ${OFFSET_HEADER}: ${JSON.stringify(raw)}`);
  return n;
}

/** A response body, with a connection lost midway reported as a RemoteError (an abort stays an AbortError). */
async function* body(res: IncomingMessage, from: string): AsyncGenerator<Buffer, void, undefined> {
  try {
    for await (const chunk of res) yield chunk as Buffer;
  } catch (err) {
    if ((err as Error)?.name === 'AbortError' || err instanceof RemoteError) throw err;
    throw new RemoteError('ECONNRESET', 0, `the connection to ${from} was lost in the middle of a read: ${messageOf(err)}`, { cause: err });
  }
}

/** The end of a read body: complete, with the X-Relay-End trailer. */
function endOf(res: IncomingMessage): ReadEnd {
  if (!res.complete) throw new RemoteError('ECONNRESET', 0, 'the read was cut off before its end');
  const reason = res.trailers[END_TRAILER.toLowerCase()] as EndReason | undefined;
  if (reason === 'error') throw new RemoteError('EINTERNAL', 500, 'the server failed in the middle of the read');
  let stats: BufferStats | null = null;
  try {
    const raw = res.trailers[STATS_TRAILER.toLowerCase()];
    if (raw) stats = JSON.parse(raw) as BufferStats;
  } catch {
    /* stats are informative only */
  }
  return { reason: reason ?? 'drained', stats };
}

async function readText(res: IncomingMessage, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new RemoteError('EPROTO', res.statusCode ?? 0, `response larger than ${limit} bytes`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

function errorFrom(status: number, text: string): RemoteError {
  try {
    const body = JSON.parse(text) as ErrorBody;
    const code = body?.error?.code;
    if (typeof code === 'string' && Object.hasOwn(STATUS, code)) return new RemoteError(code, status, String(body.error.message));
  } catch {
    /* not our JSON: fall through */
  }
  return new RemoteError('EPROTO', status, text.slice(0, 200) || `HTTP status ${status}`);
}
