/**
 * The remote protocol (version 1) shared by server and client: routes, the
 * JSON shapes, request validation and error codes. Pure code: it parses the
 * raw request target itself rather than through WHATWG URL, which silently
 * resolves '..' and '%2e%2e' instead of letting us refuse them.
 * docs/remote-protocol.md is the normative description.
 */
import type { BufferStats } from '../buffer/index.js';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { RelayError, type ProtocolErrorCode } from '../errors.js';

export const PROTOCOL_VERSION = 1;
export const API_PREFIX = '/v1';

/** Trailer names sent at the end of every read response. */
export const END_TRAILER = 'X-Relay-End';
export const STATS_TRAILER = 'X-Relay-Stats';
/** Header of a kept read: the offset of its first byte. */
export const OFFSET_HEADER = 'X-Relay-Offset';

/** Why a read response ended (the X-Relay-End trailer). */
export type EndReason = 'drained' | 'hangup' | 'max' | 'shutdown' | 'error' | 'replaced';

export const MAX_LATENCY_MS = 10_000;
/** Largest `max` a read accepts: one relay buffer can never hold more. */
export const MAX_READ_BYTES = 0x7fffffff;
/** Largest kept offset: exact in a double. */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;
/** Longest request target we parse; longer ones are refused before any decoding. */
export const MAX_TARGET_LENGTH = 4096;

export type ErrorCode = ProtocolErrorCode;

export const STATUS: Record<ErrorCode, number> = {
  EBADREQUEST: 400,
  EBADPATH: 400,
  EUNAUTHORIZED: 401,
  ENOENT: 404,
  ENOROUTE: 404,
  EISDIR: 400,
  EMETHOD: 405,
  ETOOLARGE: 431,
  ETIMEDOUT: 408,
  EBUSY: 503,
  EINTERNAL: 500,
};

/** Every error response body: { "error": { status, code, message } }. */
export interface ErrorBody {
  error: { status: number; code: ErrorCode; message: string };
}

export class ProtocolError extends RelayError {
  declare readonly code: ProtocolErrorCode;
  readonly status: number;
  constructor(code: ProtocolErrorCode, message: string) {
    super(code, message);
    this.name = 'ProtocolError';
    this.status = STATUS[code];
  }

  body(): ErrorBody {
    return { error: { status: this.status, code: this.code, message: this.detail } };
  }
}

// ------------------------------------------------------------ JSON shapes

/** GET /v1 */
export interface ServerInfo {
  server: 'relayfs';
  protocol: number;
  pid: number;
  fs: string;
  /** Whether this connection came over TCP (and therefore needed the token). */
  tcp: boolean;
}

/** One relay file in a listing, and the body of GET /v1/files/<path>/stats. */
export interface FileInfo {
  path: string;
  /** The id of the channel the file belongs to. */
  channel: string;
  /** The buffer index: the N of baseN. */
  cpu: number;
  /** Bytes a consuming read would return now (a lower bound while writers run). */
  available: number;
  stats: BufferStats;
}

export interface ChannelInfo {
  id: string;
  baseFilename: string | null;
  subbufSize: number;
  nSubbufs: number;
  global: boolean;
  closed: boolean;
  /** Paths of the channel's relay files, by buffer index. */
  files: string[];
}

/** GET /v1/files and GET /v1/files/<dir> */
export interface Listing {
  fs: string;
  pid: number;
  /** The directory listed. */
  dir: string;
  channels: ChannelInfo[];
  files: FileInfo[];
}

// ------------------------------------------------------------ requests

export interface ReadOptions {
  follow: boolean;
  latency: number;
  /** Stop after this many bytes (Infinity: no limit). */
  max: number;
  /**
   * A kept read (keep=N): starts at offset N of the file's kept window and
   * keeps what it sends until released (GET …/kept?release=M). Null: a
   * plain consuming read.
   */
  keep: number | null;
}

export type Route =
  | { kind: 'info' }
  | { kind: 'list'; path: string }
  /** A path that names a file (read) or a directory (list); the server decides which. */
  | { kind: 'read-or-list'; path: string; read: ReadOptions; query: boolean }
  | { kind: 'stats'; path: string; fallback: string }
  /** GET /v1/files/<path>/kept[?release=N]: the kept window (made if there is none), after releasing below N. */
  | { kind: 'kept'; path: string; fallback: string; release: number | null };

/**
 * Parses a request's method and raw target into a route. Throws
 * ProtocolError for anything malformed; never touches the filesystem.
 */
export function parseRequest(method: string | undefined, target: string | undefined): Route {
  if (method !== 'GET') throw new ProtocolError('EMETHOD', `method ${method ?? '(none)'} is not supported: every route is GET`);
  if (typeof target !== 'string' || target.length === 0) throw new ProtocolError('EBADREQUEST', 'empty request target');
  if (target.length > MAX_TARGET_LENGTH) throw new ProtocolError('EBADPATH', `request target longer than ${MAX_TARGET_LENGTH} characters`);
  // Absolute-form (what a proxy-minded client sends) carries the same path after the authority.
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || '/';
  if (target[0] !== '/') throw new ProtocolError('EBADREQUEST', 'request target must be a path starting with "/"');
  if (target.includes('#')) throw new ProtocolError('EBADREQUEST', 'request target must not contain a fragment');

  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = parseQuery(q < 0 ? '' : target.slice(q + 1));
  const segments = decodeSegments(rawPath);

  if (segments[0] !== 'v1') throw new ProtocolError('ENOROUTE', `no route ${rawPath}: the API lives under ${API_PREFIX}/`);
  if (segments.length === 1) {
    noQuery(query);
    return { kind: 'info' };
  }
  if (segments[1] !== 'files') throw new ProtocolError('ENOROUTE', `no route ${rawPath}: try ${API_PREFIX}/files`);
  const rest = segments.slice(2);
  if (rest.length === 0) {
    noQuery(query);
    return { kind: 'list', path: '/' };
  }
  const path = '/' + rest.join('/');
  if (rest[rest.length - 1] === 'stats' && rest.length > 1) {
    noQuery(query);
    // A relay file is always named base+N, so ".../stats" means the stats of the file before it.
    return { kind: 'stats', path: '/' + rest.slice(0, -1).join('/'), fallback: path };
  }
  if (rest[rest.length - 1] === 'kept' && rest.length > 1) {
    for (const key of query.keys()) if (key !== 'release') throw new ProtocolError('EBADREQUEST', `unknown query parameter ${JSON.stringify(key)}: kept takes release`);
    const release = parseInteger('release', query.get('release'), 0, MAX_OFFSET) ?? null;
    return { kind: 'kept', path: '/' + rest.slice(0, -1).join('/'), fallback: path, release };
  }
  return { kind: 'read-or-list', path, read: readOptions(query), query: query.size > 0 };
}

/** Splits and percent-decodes a path, refusing anything that could leave the relay tree. */
export function decodeSegments(rawPath: string): string[] {
  const raw = rawPath.split('/').slice(1);
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop(); // one trailing slash is harmless
  const out: string[] = [];
  for (const part of raw) {
    if (part === '') throw new ProtocolError('EBADPATH', 'empty path component ("//")');
    let name: string;
    try {
      name = decodeURIComponent(part);
    } catch {
      throw new ProtocolError('EBADPATH', `path component ${JSON.stringify(part)} is not valid percent-encoding`);
    }
    if (name === '.' || name === '..') {
      const shown = part === name ? JSON.stringify(part) : `${JSON.stringify(part)} (decoded "${name}")`;
      throw new ProtocolError('EBADPATH', `path component ${shown} is not allowed: relay paths never leave their tree`);
    }
    if (/[/\\\0]/.test(name)) {
      throw new ProtocolError('EBADPATH', `path component ${JSON.stringify(part)} decodes to a name with '/', '\\' or NUL`);
    }
    if (/[\x00-\x1f\x7f]/.test(name)) throw new ProtocolError('EBADPATH', `path component ${JSON.stringify(part)} has control characters`);
    out.push(name);
  }
  return out;
}

/** Encodes a relay path for a request target: each component percent-encoded. */
export function encodePath(path: string): string {
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const p of parts) {
    if (p === '.' || p === '..') throw new ProtocolError('EBADPATH', `relay path ${JSON.stringify(path)} has a '${p}' component`);
  }
  return parts.map(encodeURIComponent).join('/');
}

function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
      value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      throw new ProtocolError('EBADREQUEST', `query parameter ${JSON.stringify(pair)} is not valid percent-encoding`);
    }
    if (out.has(key)) throw new ProtocolError('EBADREQUEST', `query parameter ${JSON.stringify(key)} given twice`);
    out.set(key, value);
  }
  return out;
}

function noQuery(query: Map<string, string>): void {
  const first = query.keys().next();
  if (!first.done) throw new ProtocolError('EBADREQUEST', `unknown query parameter ${JSON.stringify(first.value)} for this route`);
}

function readOptions(query: Map<string, string>): ReadOptions {
  for (const key of query.keys()) {
    if (key !== 'follow' && key !== 'latency' && key !== 'max' && key !== 'keep') {
      throw new ProtocolError('EBADREQUEST', `unknown query parameter ${JSON.stringify(key)}: a read takes follow, latency, max and keep`);
    }
  }
  const follow = parseBool('follow', query.get('follow'));
  const latency = parseInteger('latency', query.get('latency'), 1, MAX_LATENCY_MS) ?? DEFAULT_LATENCY_MS;
  const max = parseInteger('max', query.get('max'), 1, MAX_READ_BYTES) ?? Infinity;
  const keep = parseInteger('keep', query.get('keep'), 0, MAX_OFFSET) ?? null;
  return { follow, latency, max, keep };
}

function parseBool(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === '' || value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new ProtocolError('EBADREQUEST', `${name} must be 1, 0, true or false, got ${JSON.stringify(value)}`);
}

function parseInteger(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,16}$/.test(value)) throw new ProtocolError('EBADREQUEST', `${name} must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new ProtocolError('EBADREQUEST', `${name} must be from ${min} to ${max}, got ${n}`);
  return n;
}
