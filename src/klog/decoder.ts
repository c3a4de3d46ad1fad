/**
 * Reads klog records (format.ts) back: a whole-buffer decoder, a streaming
 * decoder that takes chunks as they come off a relay file or a disk file,
 * and a header-only scanner that counts records without touching payloads.
 */
import {
  H_BUFFER,
  H_FLAGS,
  H_HEADER_SIZE,
  H_LENGTH,
  H_MAGIC,
  H_SEQ,
  H_THREAD,
  H_TS_HI,
  H_TS_LO,
  H_TYPE,
  H_VERSION,
  KLOG_FLAG_TRUNCATED,
  KLOG_HEADER_SIZE,
  KLOG_MAGIC,
  KLOG_MAX_PAYLOAD,
  KLOG_MIN_VERSION,
  KLOG_VERSION,
  maxTypeOf,
  KlogFormatError,
  typeName,
  type KlogRecord,
  type KlogType,
} from './format.js';
import { describe, invalidArg } from '../errors.js';

const TWO_32 = 0x100000000;

/**
 * Checks what there is of a header that is not complete yet (fewer than 32
 * bytes): a short file of something else is then "not klog data", not a
 * record cut short.
 */
export function checkPartialHeader(bytes: Uint8Array, at: number, available: number, offset: number): void {
  if (available >= 2) {
    const magic = bytes[at + H_MAGIC]! | (bytes[at + H_MAGIC + 1]! << 8);
    if (magic !== KLOG_MAGIC) throw badMagic(offset, magic);
  } else if (available === 1 && bytes[at + H_MAGIC] !== (KLOG_MAGIC & 0xff)) {
    throw badMagic(offset, bytes[at + H_MAGIC]!);
  }
  if (available >= 3 && !knownVersion(bytes[at + H_VERSION]!)) throw badVersion(offset, bytes[at + H_VERSION]!);
}

function badMagic(offset: number, magic: number): KlogFormatError {
  return new KlogFormatError(
    'EKLOG_BAD_MAGIC',
    offset,
    `no klog record at byte ${offset} (found 0x${magic.toString(16).padStart(4, '0')}, expected "KL"): not klog data, or corrupt`,
  );
}

function knownVersion(version: number): boolean {
  return version >= KLOG_MIN_VERSION && version <= KLOG_VERSION;
}

function badVersion(offset: number, version: number): KlogFormatError {
  return new KlogFormatError('EKLOG_VERSION', offset, `klog record version ${version} at byte ${offset}; this relayfs reads versions ${KLOG_MIN_VERSION} to ${KLOG_VERSION}`);
}

/**
 * Validates the header at `at` and returns the record's total size (header +
 * payload). `offset` is the header's position in the whole stream, for errors.
 */
export function checkHeader(bytes: Uint8Array, at: number, offset: number): number {
  const magic = bytes[at + H_MAGIC]! | (bytes[at + H_MAGIC + 1]! << 8);
  if (magic !== KLOG_MAGIC) throw badMagic(offset, magic);
  const version = bytes[at + H_VERSION]!;
  if (!knownVersion(version)) throw badVersion(offset, version);
  const type = bytes[at + H_TYPE]!;
  if (type < 1 || type > maxTypeOf(version)) {
    throw new KlogFormatError('EKLOG_BAD_HEADER', offset, `klog record type ${type} at byte ${offset} is not defined in version ${version}: corrupt`);
  }
  const headerSize = bytes[at + H_HEADER_SIZE]!;
  if (headerSize < KLOG_HEADER_SIZE) {
    throw new KlogFormatError('EKLOG_BAD_HEADER', offset, `klog header size ${headerSize} at byte ${offset} is below ${KLOG_HEADER_SIZE}: corrupt`);
  }
  const length = readU32(bytes, at + H_LENGTH);
  if (length > KLOG_MAX_PAYLOAD) {
    throw new KlogFormatError('EKLOG_BAD_HEADER', offset, `klog record at byte ${offset} claims ${length} payload bytes: corrupt`);
  }
  return headerSize + length;
}

/**
 * A decoded record. Its payload view is made on first use, and its text is
 * decoded straight from the chunk: a typed-array view per record would cost
 * more than the rest of decoding.
 */
class DecodedRecord implements KlogRecord {
  readonly type: KlogType;
  readonly length: number;
  readonly timestamp: number;
  readonly seq: number;
  readonly thread: number;
  readonly buffer: number;
  readonly flags: number;
  readonly offset: number;
  private readonly chunk: Buffer;
  private readonly start: number;
  private view: Uint8Array | null = null;

  constructor(chunk: Buffer, at: number, offset: number, size: number) {
    const headerSize = chunk[at + H_HEADER_SIZE]!;
    this.type = typeName(chunk[at + H_TYPE]!);
    this.length = size - headerSize;
    this.timestamp = readU32(chunk, at + H_TS_HI) * TWO_32 + readU32(chunk, at + H_TS_LO);
    this.seq = readU32(chunk, at + H_SEQ);
    this.thread = readU32(chunk, at + H_THREAD);
    this.buffer = chunk[at + H_BUFFER]! | (chunk[at + H_BUFFER + 1]! << 8);
    this.flags = chunk[at + H_FLAGS]!;
    this.offset = offset;
    this.chunk = chunk;
    this.start = at + headerSize;
  }

  get truncated(): boolean {
    return (this.flags & KLOG_FLAG_TRUNCATED) !== 0;
  }

  get payload(): Uint8Array {
    return (this.view ??= new Uint8Array(this.chunk.buffer, this.chunk.byteOffset + this.start, this.length));
  }

  text(): string {
    return this.chunk.toString('utf8', this.start, this.start + this.length);
  }
}

function checkBytes(what: string, bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw invalidArg(`${what} needs a Uint8Array, got ${describe(bytes)}`);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * Every record of a complete byte sequence. Throws KlogFormatError on a bad
 * header, and EKLOG_TRUNCATED when the bytes end inside a record.
 */
export function* decodeRecords(bytes: Uint8Array): Generator<KlogRecord> {
  checkBytes('decodeRecords', bytes);
  const chunk = asBuffer(bytes);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < KLOG_HEADER_SIZE) {
      checkPartialHeader(bytes, at, bytes.length - at, at);
      throw truncated(at, bytes.length - at);
    }
    const size = checkHeader(bytes, at, at);
    if (at + size > bytes.length) throw truncated(at, bytes.length - at);
    yield new DecodedRecord(chunk, at, at, size);
    at += size;
  }
}

function truncated(offset: number, bytes: number): KlogFormatError {
  return new KlogFormatError('EKLOG_TRUNCATED', offset, `the last klog record (at byte ${offset}) is cut short: only ${bytes} of its bytes are there`);
}

/** A truncated last record, as reported by KlogDecoder.end(). */
export interface TruncatedTail {
  /** Stream offset of the cut record. */
  offset: number;
  /** Bytes of it that were there. */
  bytes: number;
}

/**
 * Decodes a stream that arrives in chunks; a record split across chunks is
 * held back until its end arrives. Records returned from push() view the
 * chunk (or a joined copy), so they stay valid after later pushes.
 *
 * The held-back pieces are joined once, when the record they start is
 * complete, so decoding stays linear in the input whatever size a (corrupt)
 * header claims.
 */
export class KlogDecoder {
  /** Copies of the bytes held back (the start of an incomplete record), in order. */
  private parts: Uint8Array[] = [];
  private held = 0;
  /** Size of the held record once its header is complete (0 before). */
  private need = 0;
  /** Stream offset of the first held byte (or of the next chunk). */
  private position = 0;

  /** Appends a chunk; returns the records it completes. Throws KlogFormatError on a bad header. */
  push(chunk: Uint8Array): KlogRecord[] {
    checkBytes('KlogDecoder.push', chunk);
    let bytes = chunk;
    if (this.held > 0) {
      if (!this.enough(chunk)) {
        this.parts.push(chunk.slice()); // the caller may reuse its chunk
        this.held += chunk.length;
        return [];
      }
      bytes = new Uint8Array(this.held + chunk.length);
      let at = 0;
      for (const part of this.parts) {
        bytes.set(part, at);
        at += part.length;
      }
      bytes.set(chunk, at);
      this.parts = [];
      this.held = 0;
      this.need = 0;
    }
    const out: KlogRecord[] = [];
    const buf = asBuffer(bytes);
    let at = 0;
    let size = 0;
    while (bytes.length - at >= KLOG_HEADER_SIZE) {
      size = checkHeader(bytes, at, this.position + at);
      if (at + size > bytes.length) break;
      out.push(new DecodedRecord(buf, at, this.position + at, size));
      at += size;
      size = 0;
    }
    if (at < bytes.length) {
      if (bytes.length - at < KLOG_HEADER_SIZE) checkPartialHeader(bytes, at, bytes.length - at, this.position + at);
      this.parts = [bytes.slice(at)];
      this.held = bytes.length - at;
      this.need = size;
    }
    this.position += at;
    return out;
  }

  /** Whether the held bytes plus `chunk` complete the held record (checking its header once it is whole). */
  private enough(chunk: Uint8Array): boolean {
    const total = this.held + chunk.length;
    if (this.need === 0) {
      const head = new Uint8Array(Math.min(KLOG_HEADER_SIZE, total));
      let at = 0;
      for (const part of [...this.parts, chunk]) {
        if (at === head.length) break;
        const take = Math.min(part.length, head.length - at);
        head.set(part.subarray(0, take), at);
        at += take;
      }
      if (head.length < KLOG_HEADER_SIZE) {
        checkPartialHeader(head, 0, head.length, this.position);
        return false;
      }
      this.need = checkHeader(head, 0, this.position);
    }
    return total >= this.need;
  }

  /** Bytes held back waiting for the rest of a record. */
  get pending(): number {
    return this.held;
  }

  /** Ends the stream: the truncated last record, if the stream ended inside one. */
  end(): TruncatedTail | null {
    const tail = this.held > 0 ? { offset: this.position, bytes: this.held } : null;
    this.parts = [];
    this.held = 0;
    this.need = 0;
    return tail;
  }
}

/**
 * Counts records by walking headers only, across chunk boundaries, without
 * copying payloads: what the recorder uses to count what it wrote.
 */
export class KlogScanner {
  records = 0;
  private position = 0;
  private skip = 0;
  private readonly head = new Uint8Array(KLOG_HEADER_SIZE);
  private headLen = 0;

  /** Scans a chunk; throws KlogFormatError on a bad header. */
  push(chunk: Uint8Array): void {
    checkBytes('KlogScanner.push', chunk);
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        if (this.skip === 0) this.records++;
        continue;
      }
      if (this.headLen === 0 && n - i >= KLOG_HEADER_SIZE) {
        // Whole header inside the chunk: check it in place.
        const size = checkHeader(chunk, i, this.position + i);
        this.skip = size - KLOG_HEADER_SIZE;
        i += KLOG_HEADER_SIZE;
        if (this.skip === 0) this.records++;
        continue;
      }
      const take = Math.min(KLOG_HEADER_SIZE - this.headLen, n - i);
      this.head.set(chunk.subarray(i, i + take), this.headLen);
      this.headLen += take;
      i += take;
      if (this.headLen < KLOG_HEADER_SIZE) checkPartialHeader(this.head, 0, this.headLen, this.position + i - this.headLen);
      if (this.headLen === KLOG_HEADER_SIZE) {
        const size = checkHeader(this.head, 0, this.position + i - KLOG_HEADER_SIZE);
        this.headLen = 0;
        this.skip = size - KLOG_HEADER_SIZE;
        if (this.skip === 0) this.records++;
      }
    }
    this.position += n;
  }

  /** True when the bytes seen so far end on a record boundary. */
  get atBoundary(): boolean {
    return this.headLen === 0 && this.skip === 0;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The text of a text record (invalid UTF-8 shows as U+FFFD). */
export function recordText(record: KlogRecord): string {
  return record instanceof DecodedRecord ? record.text() : utf8.decode(record.payload);
}
