/**
 * The serving thread. It owns the HTTP servers and reads the relay buffers'
 * shared memory itself, so the producer's event loop is never involved in
 * serving: a busy producer does not stall remote readers, and a slow reader
 * only ever waits here.
 */
import { chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { HostFs, type FileEntry } from '../hostfs/index.js';
import { Admission } from './admission.js';
import { FileTable } from './file-table.js';
import { clientErrorHandler, closeGently, connectHandler, requestHandler, type ServeContext, type Transport } from './handler.js';

/** What server.ts passes in workerData. */
export interface WorkerConfig {
  fsName: string;
  pid: number;
  socketPath: string;
  tcp: { port: number } | null;
  token: string | null;
  entries: FileEntry[];
  maxConnections: number;
  maxConnectionsPerClient: number;
  maxPendingConnections: number;
  headersTimeoutMs: number;
  /** Int32Array shared with the producer's thread: read responses not finished yet (handler.ts ACTIVE_READS). */
  activity: SharedArrayBuffer;
}

/** Messages from the producer's thread. */
export type ToWorker = { type: 'seed'; entries: FileEntry[] } | { type: 'close'; graceMs: number };

/** Messages to the producer's thread. */
export type FromWorker = { type: 'ready'; tcpPort: number | null } | { type: 'error'; code: string; message: string } | { type: 'closed' };

const SWEEP_MS = 1000;

async function main(config: WorkerConfig): Promise<void> {
  const port = parentPort!;
  const fs = HostFs.get(config.fsName);
  fs.files(); // joins the hostfs broadcast now, so no file made from here on is missed
  const table = new FileTable(fs, config.entries);
  const ctx: ServeContext = {
    table,
    fsName: config.fsName,
    pid: config.pid,
    token: config.token,
    stopping: false,
    active: new Set(),
    activity: new Int32Array(config.activity),
  };
  const servers: Server[] = [];

  try {
    servers.push(await listen(ctx, 'unix', config, config.socketPath));
    chmodSync(config.socketPath, 0o600);
    if (config.tcp) servers.push(await listen(ctx, 'tcp', config, { host: '127.0.0.1', port: config.tcp.port }));
  } catch (err) {
    for (const s of servers) s.close();
    const e = err as NodeJS.ErrnoException;
    port.postMessage({ type: 'error', code: e.code ?? 'ERROR', message: e.message } satisfies FromWorker);
    port.close();
    return;
  }

  const sweep = setInterval(() => table.sweep(), SWEEP_MS);
  sweep.unref();

  port.on('message', (msg: ToWorker) => {
    if (msg?.type === 'seed') table.addSeeds(msg.entries);
    else if (msg?.type === 'close') void shutdown(msg.graceMs);
  });

  const tcpServer = servers[1];
  const address = tcpServer?.address();
  port.postMessage({ type: 'ready', tcpPort: address && typeof address === 'object' ? address.port : null } satisfies FromWorker);

  async function shutdown(graceMs: number): Promise<void> {
    if (ctx.stopping) return;
    ctx.stopping = true;
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of servers) s.closeIdleConnections();
    // Follow reads send what is readable and end; give them (and slow clients) a bounded time.
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([...ctx.active]), grace]);
    clearTimeout(timer);
    for (const s of servers) s.closeAllConnections();
    await Promise.all(closed);
    clearInterval(sweep);
    table.closeAll();
    port.postMessage({ type: 'closed' } satisfies FromWorker);
    port.close();
  }
}

function listen(ctx: ServeContext, transport: Transport, config: WorkerConfig, where: string | { host: string; port: number }): Promise<Server> {
  // Slots are given by Admission, after authentication: no server.maxConnections, which would let
  // connections that never authenticate (or never send a byte) keep everyone else out.
  const admission = new Admission({
    maxConnections: config.maxConnections,
    maxPerClient: transport === 'tcp' ? config.maxConnectionsPerClient : config.maxConnections, // a Unix socket has one client: this user
    maxPending: config.maxPendingConnections,
    headTimeoutMs: config.headersTimeoutMs,
  });
  const server = createServer(
    {
      maxHeaderSize: 16 * 1024,
      // Admission times out a head from the connection on; Node's own check is the second line.
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.headersTimeoutMs + 5_000,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs), // how often Node checks (default 30 s)
      noDelay: true,
      requireHostHeader: false, // checked by the handler, which answers with the JSON error
    },
    requestHandler(ctx, transport, admission),
  );
  server.on('connection', (socket: Socket) => {
    closeGently(socket);
    admission.connected(socket, transport === 'tcp' ? (socket.remoteAddress ?? '?') : 'unix');
  });
  server.on('clientError', clientErrorHandler(admission));
  server.on('connect', connectHandler(admission));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      server.on('error', () => {}); // later accept errors (EMFILE) must not kill the thread
      resolve(server);
    };
    if (typeof where === 'string') server.listen(where, done);
    else server.listen(where.port, where.host, done);
  });
}

if (parentPort && (workerData as { relayfsServer?: WorkerConfig })?.relayfsServer) {
  void main((workerData as { relayfsServer: WorkerConfig }).relayfsServer);
}
