// Message payloads and their stamps. Every message carries its sequence number twice:
// in its first 4 bytes and 8 bytes before its end, so a torn or misplaced message fails
// the check without the consumer having to read the whole payload.
// Stamps are written byte by byte (little-endian) so producers and consumers agree
// whatever view they use. Sizes must be multiples of 8 and at least 16.

const FILL = 0x5a; // also keeps Float64 words away from NaN bit patterns (see copy-limit)

/** A message buffer with its own ArrayBuffer (postMessage clones the whole buffer). */
export function newMessage(size: number): Uint8Array {
  return new Uint8Array(size).fill(FILL);
}

export function stamp(bytes: Uint8Array, offset: number, size: number, seq: number): void {
  writeU32(bytes, offset, seq);
  writeU32(bytes, offset + size - 8, seq);
}

export function stampOk(bytes: Uint8Array, offset: number, size: number, seq: number): boolean {
  const want = seq >>> 0;
  return readU32(bytes, offset) === want && readU32(bytes, offset + size - 8) === want;
}

/** The sequence number of a message whose two stamps agree, else -1 (for consumers that may see gaps). */
export function readStamp(bytes: Uint8Array, offset: number, size: number): number {
  const head = readU32(bytes, offset);
  return head === readU32(bytes, offset + size - 8) ? head : -1;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

// Text messages, for transports that carry UTF-8 strings (thread-stream): the sequence
// number as 8 hex digits at both ends, 'x' in between.

const HEX = '0123456789abcdef';

export function textFiller(size: number): string {
  return 'x'.repeat(size - 16);
}

export function textMessage(seq: number, filler: string): string {
  const h = hex8(seq);
  return h + filler + h;
}

/** Checks the message of `size` characters starting at `at` in `s`. */
export function textOk(s: string, at: number, size: number, seq: number): boolean {
  return hexIs(s, at, seq) && hexIs(s, at + size - 8, seq);
}

function hex8(seq: number): string {
  let out = '';
  for (let shift = 28; shift >= 0; shift -= 4) out += HEX[(seq >>> shift) & 15];
  return out;
}

function hexIs(s: string, at: number, seq: number): boolean {
  for (let i = 0; i < 8; i++) {
    if (s.charCodeAt(at + i) !== HEX.charCodeAt((seq >>> (28 - 4 * i)) & 15)) return false;
  }
  return true;
}
