/**
 * Every error relayfs throws is a RelayError, or a subclass of it, with a
 * stable `code`, so callers branch on the code rather than on message text
 * (as with undici's errors). The subclasses say where the error comes from;
 * the codes are all listed here. A failed connection reaches the caller
 * wrapped in one of these, with the system error as `cause`; a file system
 * error of the tools (a full disk while recording) is Node's own error, with
 * its own code.
 */

/** The channel, its buffers and the host filesystem (relay.rst's API). */
export type ChannelErrorCode =
  | 'ERELAY_INVALID_ARG' // a size, count, name or callback is not acceptable
  | 'ERELAY_INVALID_STATE' // a call at a time it cannot be made (a second iteration, in the wrong thread)
  | 'ERELAY_NOMEM' // subbufSize × nSubbufs cannot be allocated
  | 'ERELAY_NO_CALLBACK' // createBufFile / removeBufFile missing
  | 'ERELAY_CREATE_FAILED' // createBufFile threw or returned nothing
  | 'ERELAY_CLOSED' // the channel, file or recorder was closed
  | 'ERELAY_NO_BUFFER' // every per-thread buffer slot is already taken
  | 'ERELAY_NO_SUCH_BUFFER' // a buffer index that does not exist
  | 'ERELAY_CALLBACKS_REQUIRED' // a worker attached a channel whose callbacks it cannot load
  | 'ERELAY_SERVER_FAILED' // exposeRelayFiles: the serving thread could not start or listen
  | 'ERELAY_WRITE_FAILED' // sendfile could not write to its destination (the system error is the cause); the bytes stay readable
  | 'ENOENT' // no relay file or directory at that path
  | 'EEXIST' // a file or directory already exists at that path
  | 'ENOTDIR' // a path component is not a directory
  | 'ENOTEMPTY' // removing a directory that still holds entries
  | 'EISDIR'; // opening a directory as a relay file

/** ShipError: shipping to NATS JetStream and reading it back (src/ship). */
export type ShipErrorCode =
  | 'ENATS_URL' // not a nats://host[:port] URL
  | 'ENATS_CONNECT' // no NATS server reachable at that address
  | 'ENATS_AUTH' // the server refused the credentials
  | 'ENATS_NO_JETSTREAM' // the server runs without JetStream (-js)
  | 'ENATS_NO_STREAM' // the stream does not exist
  | 'ENATS_STREAM_SUBJECTS' // the stream does not take the subjects relayfs publishes
  | 'ENATS_STREAM_AHEAD' // the stream holds more of a buffer than its producer has had read
  | 'ENATS_PUBLISH' // a publish failed for good (the server refused the message)
  | 'ENATS_EMPTY'; // nothing in the stream to read back

/** KlogFormatError: input that is not klog records (docs/klog-format.md). */
export type KlogFormatErrorCode =
  | 'EKLOG_BAD_MAGIC' // no "KL" where a record should start
  | 'EKLOG_VERSION' // a record of another format version
  | 'EKLOG_BAD_HEADER' // a header whose sizes cannot be right
  | 'EKLOG_TRUNCATED'; // the input ends inside a record

/** ProtocolError: the remote protocol's error codes, sent in error bodies (docs/remote-protocol.md). */
export type ProtocolErrorCode =
  | 'EBADREQUEST' // malformed HTTP, a body where none belongs, a bad query
  | 'EBADPATH' // a path that cannot name a relay file: '..', '.', NUL, '\', encoded '/', bad %-encoding
  | 'EUNAUTHORIZED' // TCP request without the right bearer token
  | 'ENOENT' // no relay file or directory there (or its channel is gone)
  | 'ENOROUTE' // no such API route
  | 'EISDIR' // a per-file operation on a directory
  | 'EMETHOD' // a method other than GET
  | 'ETOOLARGE' // request line or headers too large
  | 'ETIMEDOUT' // the request (line and headers) did not arrive in time
  | 'EBUSY' // the server is shutting down or at its connection limit
  | 'EINTERNAL'; // a bug on the server side; the producer is unaffected

/** Failures of a connection, whoever reports them (RemoteError, SourceError). */
export type ConnectionErrorCode =
  | 'ECONNREFUSED' // nothing listens on the socket (a stale socket file)
  | 'ECONNRESET' // the connection was lost midway
  | 'EACCES' // the socket belongs to another user
  | 'EPERM'
  | 'ENOTSOCK' // the path is not a socket
  | 'EPIPE'
  | 'ETIMEDOUT' // no answer in time
  | 'EPROTO' // the server's answer is not the protocol
  | 'ECONNECT'; // any other connection failure (the system error is the cause)

/** RemoteError: an error response of a server (status ≥ 400) or a failed connection (status 0). */
export type RemoteErrorCode = ProtocolErrorCode | ConnectionErrorCode;

/** SourceError: a source for the tools (a path on disk, another process) that cannot be read. */
export type SourceErrorCode =
  | RemoteErrorCode
  | KlogFormatErrorCode // a recorded file that is not klog records
  | 'ENOENT'
  | 'EINVAL' // a source argument that cannot name a source
  | 'ESRCH' // no process with that pid
  | 'EREMOTE'; // the other process failed in another way

/** CliError: the command line; usage errors exit with status 2, the others with 1. */
export type CliErrorCode =
  | 'ERELAY_USAGE' // the command line itself is wrong
  | 'ERELAY_PRODUCER_FAILED' // a --run module or a launched program failed
  | 'ERELAY_TIMEOUT' // waited too long for the producer's relay files
  | 'ERELAY_FAILED'; // anything else the command could not do

export type RelayErrorCode = ChannelErrorCode | KlogFormatErrorCode | RemoteErrorCode | SourceErrorCode | ShipErrorCode | CliErrorCode;

export class RelayError extends Error {
  readonly code: RelayErrorCode;
  /** The message without the "CODE: " it starts with, for tools that print one line. */
  readonly detail: string;
  constructor(code: RelayErrorCode, detail: string, options?: ErrorOptions) {
    super(`${code}: ${detail}`, options);
    this.name = 'RelayError';
    this.code = code;
    this.detail = detail;
  }
}

export function invalidArg(message: string): RelayError {
  return new RelayError('ERELAY_INVALID_ARG', message);
}

/** Checks an integer size parameter: whole, positive, within max. */
export function checkSize(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalidArg(`${name} must be a positive whole number, got ${describe(value)}`);
  }
  if (value > max) throw invalidArg(`${name} must be at most ${max}, got ${value}`);
  return value;
}

/** Checks a file or directory name (a relay file's base name, a host filesystem entry): one path component, no escape from its tree. */
export function checkName(name: unknown, what: string, max: number): string {
  if (typeof name !== 'string' || name.length === 0) throw invalidArg(`${what} must be a non-empty string, got ${describe(name)}`);
  if (name.includes('/') || name.includes('\\') || name.includes('\0') || name.includes('..') || name === '.') {
    throw invalidArg(`${what} ${JSON.stringify(name)} must not contain '/', '\\', NUL or '..'`);
  }
  if (name.length > max) throw invalidArg(`${what} is longer than ${max} characters`);
  return name;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return Object.prototype.toString.call(value);
}

/** The message of anything thrown, for wrapping it in a RelayError. */
export function messageOf(err: unknown): string {
  return err instanceof RelayError ? err.detail : ((err as Error | null)?.message ?? String(err));
}
