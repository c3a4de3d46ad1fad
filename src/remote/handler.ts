/**
 * HTTP handling in the serving thread: authenticates, parses, dispatches a
 * request to the file table, and answers every failure with a JSON error.
 * Nothing a client sends can throw past this module or block the thread.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FileEntry } from '../hostfs/index.js';
import { RelayError } from '../errors.js';
import type { Admission } from './admission.js';
import { authorized } from './auth.js';
import type { FileTable } from './file-table.js';
import {
  END_TRAILER,
  OFFSET_HEADER,
  PROTOCOL_VERSION,
  ProtocolError,
  STATS_TRAILER,
  parseRequest,
  type ChannelInfo,
  type ErrorCode,
  type FileInfo,
  type Listing,
  type ReadOptions,
  type ServerInfo,
} from './protocol.js';
import type { KeptInfo } from './kept-window.js';
import { pump, type KeptRead } from './read-stream.js';

export interface ServeContext {
  readonly table: FileTable;
  readonly fsName: string;
  readonly pid: number;
  /** Required on TCP connections. */
  readonly token: string | null;
  /** Set by shutdown: new requests get EBUSY, follow reads wind down. */
  stopping: boolean;
  /** Reads in progress, so shutdown can wait for them. */
  readonly active: Set<Promise<void>>;
  /** For the producer's thread to wait on at exit (drainedSync): [ACTIVE_READS] read responses not finished yet. */
  readonly activity: Int32Array;
}

export type Transport = 'unix' | 'tcp';

/** Slot of ServeContext.activity: read responses not finished yet. */
export const ACTIVE_READS = 0;

/** The 'request' listener of one server (one transport). */
export function requestHandler(ctx: ServeContext, transport: Transport, admission: Admission) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    res.on('error', () => {}); // a write to a vanished client is not our error
    const socket = req.socket;
    admission.requestArrived(socket);
    res.once('close', () => admission.responded(socket)); // 'close' also comes when a response is cut
    let work: Promise<void>;
    try {
      work = handle(ctx, transport, req, res, admission);
    } catch (err) {
      work = Promise.reject(err);
    }
    const tracked = work.catch((err) => sendError(res, err)).finally(() => ctx.active.delete(tracked));
    ctx.active.add(tracked);
  };
}

/** How long a connection answered with an error may stay half open for the client to close its side. */
const LINGER_MS = 5_000;

const lingering = new WeakSet<Socket>();

/** A connection we are closing closes when the client closes its side, or is cut off after LINGER_MS. */
function lingerThenClose(socket: Socket): void {
  if (socket.destroyed || lingering.has(socket)) return; // closed already: no 'close' would come to clear the timer
  lingering.add(socket);
  const cut = setTimeout(() => socket.destroy(), LINGER_MS);
  cut.unref();
  socket.once('close', () => clearTimeout(cut));
}

/**
 * For every connection: Node closes one after a `Connection: close` response (an unauthenticated
 * request, HTTP/1.0) with destroySoon(), a full close once the response is out. Bytes the client sends
 * after that provoke a reset, which on TCP makes the client's kernel drop what it has not read yet,
 * such as the answer to a read pipelined before, whose data is consumed. So the connection only ends
 * its side, and closes when the client closes its own (or after LINGER_MS).
 */
export function closeGently(socket: Socket): void {
  socket.destroySoon = (): void => {
    if (socket.writable) socket.end();
    lingerThenClose(socket);
  };
}

/** The 'clientError' listener: unparseable bytes get a JSON 4xx and the connection closes. */
export function clientErrorHandler(admission: Admission) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (socket.destroyed) return;
    if (err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    // Answered and ending: what the client still sends is read and dropped until it closes its side (a
    // lingering close). Destroying now would cut what is still going out, and on TCP the reset that bytes
    // arriving after it provoke makes the client's kernel throw away what it has not read yet, such as
    // the answer to a read whose data is consumed.
    if (!socket.writable) {
      lingerThenClose(socket);
      return;
    }
    // Responses to requests pipelined before the bad bytes may still be going out: an error written
    // now would be read as their answer, or land inside a body. So it waits for them.
    admission.whenDone(socket, () => answerClientError(err, socket));
  };
}

/**
 * The 'connect' listener. Without one, Node drops a CONNECT connection, and any response still
 * going out on it; CONNECT is just another method that is not GET.
 */
export function connectHandler(admission: Admission) {
  return (_req: IncomingMessage, socket: Socket): void => {
    socket.on('error', () => {}); // Node took its own listeners off this socket
    admission.whenDone(socket, () => writeErrorAndClose(socket, new ProtocolError('EMETHOD', 'method CONNECT is not supported: every route is GET')));
  };
}

function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'ETOOLARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'ETIMEDOUT' : 'EBADREQUEST';
  const message =
    code === 'ETIMEDOUT'
      ? 'the request line and headers did not arrive in time'
      : code === 'ETOOLARGE'
        ? 'request line and headers are larger than 16 KiB'
        : `malformed HTTP request (${err.code ?? err.message})`;
  writeErrorAndClose(socket, new ProtocolError(code, message));
}

/** A JSON error written straight to a connection that has no usable ServerResponse, which then closes. */
function writeErrorAndClose(socket: Socket, err: ProtocolError): void {
  lingerThenClose(socket);
  if (!socket.writable) return; // ending already: what is queued goes out, then it closes
  const body = JSON.stringify(err.body());
  socket.end(
    `HTTP/1.1 ${err.status} ${reasonPhrase(err.status)}\r\n` +
      (err.code === 'EMETHOD' ? 'Allow: GET\r\n' : '') +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

async function handle(ctx: ServeContext, transport: Transport, req: IncomingMessage, res: ServerResponse, admission: Admission): Promise<void> {
  if (transport === 'tcp' && (ctx.token === null || !authorized(req.headers.authorization, ctx.token))) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="relayfs"');
    res.setHeader('Connection', 'close'); // an unauthenticated connection never stays
    throw new ProtocolError('EUNAUTHORIZED', 'this TCP listener needs "Authorization: Bearer <token>" with the token the producer printed');
  }
  // Node's own check would answer without our JSON body, so it is off (requireHostHeader) and done here.
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    res.setHeader('Connection', 'close');
    throw new ProtocolError('EBADREQUEST', 'an HTTP/1.1 request needs a Host header (any value: it is ignored)');
  }
  try {
    admission.admit(req.socket);
  } catch (err) {
    res.setHeader('Connection', 'close');
    throw err;
  }
  // We never read request bodies; one that is announced would be taken for the next request.
  const length = req.headers['content-length'];
  if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
    res.setHeader('Connection', 'close');
    throw new ProtocolError('EBADREQUEST', 'requests carry no body');
  }
  const route = parseRequest(req.method, req.url);
  if (ctx.stopping) throw new ProtocolError('EBUSY', 'the server is shutting down');

  const { table } = ctx;
  // A file made in another thread reaches this one by broadcast: give news a moment to arrive.
  if (route.kind !== 'info' && route.kind !== 'list') await settle(table, route.path);
  switch (route.kind) {
    case 'info':
      return sendJson(res, { server: 'relayfs', protocol: PROTOCOL_VERSION, pid: ctx.pid, fs: ctx.fsName, tcp: transport === 'tcp' } satisfies ServerInfo);
    case 'list':
      return sendJson(res, listing(ctx, route.path));
    case 'stats': {
      const entry = table.file(route.path);
      if (entry) return sendJson(res, fileInfo(table, entry));
      const named = table.file(route.fallback); // a file really named "stats": read it
      if (named) return read(ctx, named, req, res, { follow: false, latency: 0, max: Infinity, keep: null });
      if (table.isDir(route.path)) throw new ProtocolError('EISDIR', `${route.path} is a directory: stats are per relay file`);
      throw new ProtocolError('ENOENT', `no relay file at ${route.path}`);
    }
    case 'kept': {
      const entry = table.file(route.path);
      if (entry) return sendJson(res, keptInfo(table, entry, route.release));
      const named = table.file(route.fallback); // a file really named "kept": read it
      if (named) return read(ctx, named, req, res, { follow: false, latency: 0, max: Infinity, keep: null });
      if (table.isDir(route.path)) throw new ProtocolError('EISDIR', `${route.path} is a directory: a kept window is per relay file`);
      throw new ProtocolError('ENOENT', `no relay file at ${route.path}`);
    }
    case 'read-or-list': {
      const entry = table.file(route.path);
      if (entry) return read(ctx, entry, req, res, route.read);
      if (table.isDir(route.path)) {
        if (route.query) throw new ProtocolError('EISDIR', `${route.path} is a directory: follow, latency and max apply to relay files`);
        return sendJson(res, listing(ctx, route.path));
      }
      throw new ProtocolError('ENOENT', `no relay file or directory at ${route.path}`);
    }
  }
}

/** Waits up to NEWS_MS for a path this thread does not know yet (a file just made elsewhere). */
const NEWS_MS = 250;
async function settle(table: FileTable, path: string): Promise<void> {
  for (const deadline = Date.now() + NEWS_MS; !table.file(path) && !table.isDir(path) && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A consuming read (or follow) of one relay file, ending with the X-Relay-End and X-Relay-Stats trailers. */
async function read(ctx: ServeContext, entry: FileEntry, req: IncomingMessage, res: ServerResponse, opts: ReadOptions): Promise<void> {
  // A request pipelined behind another gets the connection when the earlier response ends; consume nothing before.
  if (!res.socket && !(await connectionFor(req, res))) return;
  const lease = leaseOrNotFound(ctx.table, entry);
  // Counted until the response is handed to the socket (or cut): then its bytes no longer depend on this process.
  Atomics.add(ctx.activity, ACTIVE_READS, 1);
  res.once('close', () => {
    Atomics.sub(ctx.activity, ACTIVE_READS, 1);
    Atomics.notify(ctx.activity, ACTIVE_READS);
  });
  try {
    let kept: KeptRead | undefined;
    if (opts.keep !== null) {
      // keep=N: the window from N on (from its start if N was released, from its end if N is beyond it).
      const window = lease.kept();
      kept = { window, id: window.takeOver(), from: Math.min(Math.max(opts.keep, window.start), window.end) };
    }
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-store',
      'X-Relay-Channel': entry.handle.id,
      'X-Relay-Cpu': String(entry.cpu),
      ...(kept ? { [OFFSET_HEADER]: String(kept.from) } : {}),
      Trailer: `${END_TRAILER}, ${STATS_TRAILER}`,
    });
    if (opts.follow) res.flushHeaders(); // the client learns at once that the stream is live
    let reason: Awaited<ReturnType<typeof pump>>;
    try {
      reason = await pump(lease.file, res, opts, ctx, kept);
    } catch (err) {
      if (!(err instanceof RelayError && err.code === 'ERELAY_CLOSED')) throw err;
      reason = 'shutdown'; // the file was closed under us by shutdown
    }
    if (reason === 'aborted') {
      res.destroy();
      return;
    }
    const stats = lease.file.closed ? null : lease.file.stats();
    res.addTrailers({ [END_TRAILER]: reason, ...(stats ? { [STATS_TRAILER]: JSON.stringify(stats) } : {}) });
    res.end();
  } finally {
    lease.release();
  }
}

/** Resolves true once `res` has the connection, false if the connection closes first. */
function connectionFor(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const socket = req.socket;
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onSocket = (): void => {
      socket.off('close', onClose);
      resolve(true);
    };
    const onClose = (): void => {
      res.off('socket', onSocket);
      resolve(false);
    };
    res.once('socket', onSocket);
    socket.once('close', onClose);
  });
}

function listing(ctx: ServeContext, dir: string): Listing {
  const { table } = ctx;
  if (!table.isDir(dir)) {
    throw new ProtocolError(table.file(dir) ? 'EBADREQUEST' : 'ENOENT', `${dir} is not a directory`);
  }
  const files: FileInfo[] = [];
  const channels = new Map<string, ChannelInfo>();
  for (const entry of table.files(dir)) {
    let info: FileInfo;
    try {
      info = fileInfo(table, entry);
    } catch {
      continue; // closed and released between listing and opening: it is gone
    }
    files.push(info);
    const h = entry.handle;
    let chan = channels.get(h.id);
    if (!chan) {
      chan = {
        id: h.id,
        baseFilename: h.baseFilename,
        subbufSize: h.subbufSize,
        nSubbufs: h.nSubbufs,
        global: h.isGlobal,
        closed: info.stats.closed,
        files: [],
      };
      channels.set(h.id, chan);
    }
    chan.files[entry.cpu] = entry.path;
  }
  for (const chan of channels.values()) chan.files = chan.files.filter((p) => typeof p === 'string');
  return { fs: ctx.fsName, pid: ctx.pid, dir, channels: [...channels.values()], files };
}

function fileInfo(table: FileTable, entry: FileEntry): FileInfo {
  const lease = leaseOrNotFound(table, entry);
  try {
    return { path: entry.path, channel: entry.handle.id, cpu: entry.cpu, available: lease.file.available(), stats: lease.file.stats() };
  } finally {
    lease.release();
  }
}

/** The kept window of a file (made if it has none), after releasing the bytes below `release`. */
function keptInfo(table: FileTable, entry: FileEntry, release: number | null): KeptInfo & { path: string } {
  const lease = leaseOrNotFound(table, entry);
  try {
    const window = lease.kept();
    if (release !== null) window.release(release);
    return { path: entry.path, ...window.info() };
  } finally {
    lease.release();
  }
}

function leaseOrNotFound(table: FileTable, entry: FileEntry) {
  try {
    return table.lease(entry);
  } catch (err) {
    if (err instanceof RelayError) throw new ProtocolError('ENOENT', `${entry.path}: ${err.message}`);
    throw err;
  }
}

function sendJson(res: ServerResponse, value: unknown, status = 200): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    // Mid-stream: the status is gone; end the body with the reason instead.
    if (!res.writableEnded && !res.destroyed) {
      res.addTrailers({ [END_TRAILER]: 'error' });
      res.end();
    }
    return;
  }
  const perr = err instanceof ProtocolError ? err : new ProtocolError('EINTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}`);
  if (perr.code === 'EMETHOD') res.setHeader('Allow', 'GET');
  sendJson(res, perr.body(), perr.status);
}

function reasonPhrase(status: number): string {
  return ({ 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' } as Record<number, string>)[status] ?? 'Error';
}
