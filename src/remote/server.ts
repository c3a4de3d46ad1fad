/**
 * exposeRelayFiles: makes this process's relay files reachable from other
 * processes over HTTP/1.1 on a Unix socket (and, when asked, on 127.0.0.1
 * with a bearer token). This module runs in the producer's thread and only
 * sets things up; all serving happens in a worker thread of its own
 * (server-worker.ts) that reads the buffers' shared memory directly.
 */
import { lstatSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RelayError, describe, invalidArg } from '../errors.js';
import { hostfs, HostFs } from '../hostfs/index.js';
import { checkToken, generateToken } from './auth.js';
import { onProcessExit } from './exit-hooks.js';
import { ACTIVE_READS } from './handler.js';
import type { FromWorker, ToWorker, WorkerConfig } from './server-worker.js';
import { MAX_SOCKET_PATH, makePrivateDir, removeSocket } from './socket-dir.js';

export interface ExposeOptions {
  /** The host filesystem to expose (default: the default `hostfs`). */
  fs?: HostFs;
  /**
   * Where to put the Unix socket. Default: <$XDG_RUNTIME_DIR or tmpdir>/relayfs-<pid>/<fs>.sock
   * in a directory made with mode 0700. A path you choose should be in a
   * directory only you can enter: the socket is chmod 0600, but some systems
   * ignore socket modes.
   */
  socketPath?: string;
  /** Also listen on TCP, on 127.0.0.1 only (port 0, the default, picks a free port). Requires the token. */
  tcp?: boolean | { port?: number };
  /** The bearer token for TCP; default: 256 random bits. */
  token?: string;
  /** Keep the process alive while the server runs (default false: exposing never delays exit). */
  keepAlive?: boolean;
  /**
   * Connections served at once (default 64). A connection takes a slot with its first accepted
   * request (on TCP: one with the token); beyond the limit requests get 503 EBUSY.
   */
  maxConnections?: number;
  /** Of those, from one TCP client address (default 16). */
  maxConnectionsPerClient?: number;
  /** Connections that have not sent an accepted request yet (default 64); a new one beyond it closes the oldest. */
  maxPendingConnections?: number;
  /** A connection that sends no complete request head this long after connecting (or after its last response) is closed with 408 (ms, default 10000). */
  headersTimeoutMs?: number;
}

export interface RelayFileServer {
  readonly socketPath: string;
  /** The TCP listener, when asked for. */
  readonly tcp: { host: '127.0.0.1'; port: number; url: string } | null;
  /** The bearer token TCP clients must send (null without TCP). */
  readonly token: string | null;
  /**
   * Stops serving: no new connections; follow reads send what is readable
   * and end (trailer X-Relay-End: shutdown) within graceMs (default 2000),
   * then connections are cut. Removes the socket (and its directory).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;

/** Starts serving the relay files of `options.fs` to other processes. */
export async function exposeRelayFiles(options: ExposeOptions = {}): Promise<RelayFileServer> {
  if (options === null || typeof options !== 'object') throw invalidArg(`exposeRelayFiles options must be an object, got ${describe(options)}`);
  const fs = options.fs ?? hostfs;
  if (!(fs instanceof HostFs)) throw invalidArg('options.fs must be a HostFs (hostfs or HostFs.get(name))');
  const tcp = tcpOption(options.tcp);
  const token = tcp ? (options.token === undefined ? generateToken() : checkToken(options.token)) : null;
  const maxConnections = countOption('maxConnections', options.maxConnections, 64);
  const maxConnectionsPerClient = countOption('maxConnectionsPerClient', options.maxConnectionsPerClient, 16);
  const maxPendingConnections = countOption('maxPendingConnections', options.maxPendingConnections, 64);
  const headersTimeoutMs = countOption('headersTimeoutMs', options.headersTimeoutMs, 10_000);

  let dir: string | null = null;
  let socketPath: string;
  if (options.socketPath !== undefined) {
    if (typeof options.socketPath !== 'string' || options.socketPath.length === 0) throw invalidArg('options.socketPath must be a non-empty string');
    socketPath = resolvePath(options.socketPath);
  } else {
    dir = makePrivateDir();
    socketPath = resolvePath(dir, `${fs.name}.sock`);
  }
  const cleanup = (): void => removeSocket(socketPath, dir);
  try {
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      throw invalidArg(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes, the limit of a Unix socket address`);
    }
    await clearStaleSocket(socketPath);
  } catch (err) {
    removeSocket(null, dir); // the path may be another server's live socket: leave it
    throw err;
  }

  const config: WorkerConfig = {
    fsName: fs.name,
    pid: process.pid,
    socketPath,
    tcp: tcp ? { port: tcp.port } : null,
    token,
    entries: fs.files(),
    maxConnections,
    maxConnectionsPerClient,
    maxPendingConnections,
    headersTimeoutMs,
    activity: new SharedArrayBuffer(4),
  };
  const worker = new Worker(new URL('./server-worker.js', import.meta.url), {
    workerData: { relayfsServer: config },
    stdout: false,
    stderr: false,
  });

  let tcpPort: number | null;
  try {
    tcpPort = await started(worker);
  } catch (err) {
    await worker.terminate();
    removeSocket(null, dir); // a socket the thread bound was unlinked when it closed its servers
    throw err;
  }

  // Files made while the thread started up were announced before it listened: resend the list.
  worker.postMessage({ type: 'seed', entries: fs.files() } satisfies ToWorker);
  const unregister = onProcessExit(cleanup);
  let closing: Promise<void> | null = null;
  let exited = false;
  worker.once('exit', () => (exited = true));
  worker.on('error', (err) => {
    process.emitWarning(`relayfs remote server thread failed: ${err.message}`, 'RelayfsWarning');
    cleanup();
    unregister();
  });
  if (!options.keepAlive) worker.unref();

  const server: RelayFileServer = {
    socketPath,
    tcp: tcpPort === null ? null : { host: '127.0.0.1', port: tcpPort, url: `http://127.0.0.1:${tcpPort}` },
    token,
    close(closeOptions: { graceMs?: number } = {}): Promise<void> {
      const graceMs = closeOptions?.graceMs ?? 2000;
      if (typeof graceMs !== 'number' || !(graceMs >= 0)) return Promise.reject(invalidArg(`graceMs must be a number ≥ 0, got ${describe(graceMs)}`));
      closing ??= (exited ? Promise.resolve() : stop(worker, graceMs)).finally(() => {
        cleanup();
        unregister();
      });
      return closing;
    },
  };
  activityOf.set(server, new Int32Array(config.activity));
  return server;
}

const activityOf = new WeakMap<RelayFileServer, Int32Array>();

/**
 * Blocks this thread until `drained()` holds and no read response is in
 * progress, or `timeoutMs` pass; true when that happened. For an 'exit' hook
 * after relayClose: the serving thread keeps sending while this one waits,
 * and a response that has ended has been handed to the socket. Not part of
 * the package API.
 */
export function drainedSync(server: RelayFileServer, drained: () => boolean, timeoutMs: number): boolean {
  const activity = activityOf.get(server);
  if (!activity) return true;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reads = Atomics.load(activity, ACTIVE_READS);
    if (reads === 0 && drained()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    Atomics.wait(activity, ACTIVE_READS, reads, Math.min(left, 5)); // woken when a read ends; else a look every 5 ms
  }
}

function countOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw invalidArg(`options.${name} must be a whole number from 1 to 2^31-1, got ${describe(value)}`);
  }
  return value;
}

function tcpOption(tcp: ExposeOptions['tcp']): { port: number } | null {
  if (tcp === undefined || tcp === false) return null;
  if (tcp === true) return { port: 0 };
  if (typeof tcp !== 'object' || tcp === null) throw invalidArg(`options.tcp must be true, false or { port }, got ${describe(tcp)}`);
  const port = tcp.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidArg(`options.tcp.port must be 0..65535, got ${describe(port)}`);
  return { port };
}

/**
 * A socket file left by a process that died without cleaning up is removed;
 * one a live server answers on, or anything that is not a socket, is left
 * alone and reported.
 */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new RelayError('EEXIST', `${socketPath} exists and is not a socket; not replacing it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(socketPath);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
  if (live) throw new RelayError('EEXIST', `${socketPath} is in use by a running server`);
  removeSocket(socketPath, null);
}

/** Waits for the serving thread to listen; returns its TCP port. */
function started(worker: Worker): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new RelayError('ERELAY_SERVER_FAILED', `relayfs remote server thread did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const onMessage = (msg: FromWorker): void => {
      if (msg.type === 'ready') done(null, msg.tcpPort);
      else if (msg.type === 'error')
        done(new RelayError('ERELAY_SERVER_FAILED', `relayfs remote server could not listen: ${msg.message}`, { cause: { code: msg.code, message: msg.message } }));
    };
    const onError = (err: Error): void => done(new RelayError('ERELAY_SERVER_FAILED', `relayfs remote server thread failed: ${err.message}`, { cause: err }));
    const onExit = (code: number): void => done(new RelayError('ERELAY_SERVER_FAILED', `relayfs remote server thread exited (code ${code}) before listening`));
    function done(err: Error | null, port: number | null = null): void {
      clearTimeout(timer);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (err) reject(err);
      else resolve(port);
    }
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** Asks the thread to shut down gracefully; terminates it if it does not within the grace time. */
function stop(worker: Worker, graceMs: number): Promise<void> {
  worker.ref(); // closing is work in progress: keep the process alive until it is done
  return new Promise<void>((resolve) => {
    const hardStop = setTimeout(() => void worker.terminate(), Math.min(graceMs, 60_000) + 2000);
    const finish = (): void => {
      clearTimeout(hardStop);
      resolve();
    };
    worker.once('exit', finish);
    worker.postMessage({ type: 'close', graceMs: Math.min(graceMs, 60_000) } satisfies ToWorker);
  });
}
