/**
 * Every error relayfs throws is a RelayError with a stable `code`, so callers
 * can branch on the code rather than on message text.
 */
export type RelayErrorCode =
  | 'ERELAY_INVALID_ARG' // a size, count, name or callback is not acceptable
  | 'ERELAY_NOMEM' // subbufSize × nSubbufs cannot be allocated
  | 'ERELAY_NO_CALLBACK' // createBufFile / removeBufFile missing
  | 'ERELAY_CREATE_FAILED' // createBufFile threw or returned nothing
  | 'ERELAY_CLOSED' // the channel or file was closed
  | 'ERELAY_NO_BUFFER' // every per-thread buffer slot is already taken
  | 'ERELAY_NO_SUCH_BUFFER' // a buffer index that does not exist
  | 'ERELAY_CALLBACKS_REQUIRED' // a worker attached a channel whose callbacks it cannot load
  | 'ENOENT' // no relay file or directory at that path
  | 'EEXIST' // a file or directory already exists at that path
  | 'ENOTDIR' // a path component is not a directory
  | 'ENOTEMPTY' // removing a directory that still holds entries
  | 'EISDIR' // opening a directory as a relay file
  | ShipErrorCode;

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

export class RelayError extends Error {
  readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'RelayError';
    this.code = code;
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

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return Object.prototype.toString.call(value);
}
