/**
 * The NATS side of ship and record-back: URLs, connecting (credentials from
 * the URL), and checking the stream, with every failure as one ShipError line.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { RelayError, type ShipErrorCode } from '../errors.js';

export class ShipError extends RelayError {
  declare readonly code: ShipErrorCode;
  constructor(code: ShipErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'ShipError';
  }
}

export const DEFAULT_STREAM = 'RELAYFS';
export const DEFAULT_PREFIX = 'relayfs';
export const DEFAULT_PORT = 4222;

export interface NatsUrl {
  /** host:port, for the client. */
  server: string;
  /** The URL without credentials, for messages. */
  display: string;
  user?: string;
  pass?: string;
  token?: string;
  /** The path's first segment (record-back's stream), if any. */
  stream?: string;
}

/** Parses nats://[user:pass@ | token@]host[:port][/STREAM]. */
export function parseNatsUrl(url: string): NatsUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ShipError('ENATS_URL', `${url}: not a URL; expected nats://host[:port], like nats://127.0.0.1:4222`);
  }
  if (u.protocol !== 'nats:') throw new ShipError('ENATS_URL', `${url}: expected a nats:// URL, like nats://127.0.0.1:4222 (got ${u.protocol}//)`);
  if (!u.hostname) throw new ShipError('ENATS_URL', `${url}: no host; expected nats://host[:port]`);
  const port = u.port ? Number(u.port) : DEFAULT_PORT;
  const host = u.hostname.includes(':') && !u.hostname.startsWith('[') ? `[${u.hostname}]` : u.hostname;
  const server = `${host}:${port}`;
  const segments = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (segments.length > 1) throw new ShipError('ENATS_URL', `${url}: the path names one stream, like nats://host:4222/RELAYFS`);
  const out: NatsUrl = { server, display: `nats://${server}${segments[0] ? `/${segments[0]}` : ''}` };
  if (segments[0]) out.stream = checkStreamName(segments[0]);
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (user && pass) Object.assign(out, { user, pass });
  else if (user) out.token = user;
  return out;
}

/** A JetStream stream name: no spaces, dots, wildcards or path separators. */
export function checkStreamName(name: string): string {
  if (!/^[^\s.*>/\\]+$/.test(name)) throw new ShipError('ENATS_URL', `${JSON.stringify(name)}: not a stream name (no spaces, ".", "*", ">", "/" or "\\")`);
  return name;
}

export interface Connected {
  nc: NatsConnection;
  jsm: JetStreamManager;
  url: NatsUrl;
}

/**
 * Connects, then reconnects by itself for as long as the connection is open
 * (the client's back-off: reconnectTimeWait plus jitter). The first
 * connection fails at once, with one line that says why.
 */
export async function connectNats(url: string | NatsUrl, options: { name?: string; timeoutMs?: number } = {}): Promise<Connected> {
  const u = typeof url === 'string' ? parseNatsUrl(url) : url;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: u.server,
      user: u.user,
      pass: u.pass,
      token: u.token,
      name: options.name ?? 'relayfs',
      timeout: options.timeoutMs ?? 5000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 250,
      pingInterval: 10_000,
    });
  } catch (err) {
    throw connectError(u, err);
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: options.timeoutMs ?? 5000 });
    return { nc, jsm, url: u };
  } catch (err) {
    await nc.close().catch(() => {});
    throw new ShipError('ENATS_NO_JETSTREAM', `${u.display}: JetStream is not enabled on that server (start it with nats-server -js)`, { cause: err });
  }
}

function connectError(u: NatsUrl, err: unknown): ShipError {
  const e = err as Error & { code?: string };
  if (e?.name === 'AuthorizationError' || /authori[sz]ation/i.test(e?.message ?? '')) {
    const how = u.user ? `user ${JSON.stringify(u.user)} and its password` : u.token ? 'the token' : 'no credentials';
    return new ShipError('ENATS_AUTH', `${u.display}: authentication failed with ${how} (give them in the URL: nats://user:password@host:port or nats://token@host:port)`, {
      cause: err,
    });
  }
  const code = e?.code ?? '';
  const why =
    code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? 'no such host'
      : /refused/i.test(e?.message ?? '') || code === 'ECONNREFUSED'
        ? 'connection refused (is nats-server running there?)'
        : /timeout/i.test(e?.message ?? '') || e?.name === 'TimeoutError'
          ? 'no answer in time (is it a NATS server?)'
          : (e?.message ?? String(err));
  return new ShipError('ENATS_CONNECT', `${u.display}: ${why}`, { cause: err });
}

/** The stream's info; ENATS_NO_STREAM when there is none. */
export async function streamInfo(c: Connected, stream: string): Promise<StreamInfo> {
  try {
    return await c.jsm.streams.info(stream);
  } catch (err) {
    if ((err as Error)?.name === 'StreamNotFoundError' || /stream not found/i.test((err as Error)?.message ?? '')) {
      throw new ShipError(
        'ENATS_NO_STREAM',
        `${c.url.display}: no stream ${JSON.stringify(stream)} (create it: nats stream add ${stream} --subjects '${DEFAULT_PREFIX}.>', or ship with --create-stream)`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Whether a NATS subject filter (with * and >) matches a subject. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
