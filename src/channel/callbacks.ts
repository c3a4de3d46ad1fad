/**
 * The spec's rchan_callbacks, in TypeScript. Functions cannot cross threads,
 * so a channel used from workers names an ES module (`module`) whose default
 * export, or export `callbacks`, is this object; every thread imports it.
 */
import { RelayError } from '../errors.js';
import type { RelayBuffer } from './channel.js';

/** The is_global out-parameter of create_buf_file. */
export interface IsGlobal {
  value: boolean;
}

export interface RelayCallbacks<Dentry = unknown> {
  /**
   * Called when a sub-buffer switch is about to happen (and once for the first
   * sub-buffer, with prevSubbuf null). Return true (or 1) to switch, false (or
   * 0) to leave the buffer stalled. Runs in the writing thread, under the
   * buffer's lock: a write to the same buffer from here is dropped and counted.
   */
  subbufStart?(buf: RelayBuffer, subbuf: Uint8Array, prevSubbuf: Uint8Array | null, prevPadding: number): boolean | number;
  /** Called when a reader maps the buffer (mmap). */
  bufMapped?(buf: RelayBuffer, filp: unknown): void;
  /** Called when that mapping is unmapped. */
  bufUnmapped?(buf: RelayBuffer, filp: unknown): void;
  /**
   * Creates the relay file for a buffer and returns its dentry (anything
   * truthy that removeBufFile understands). Set isGlobal.value to get one
   * buffer shared by every thread.
   */
  createBufFile?(filename: string, parent: Dentry | null, mode: number, buf: RelayBuffer, isGlobal: IsGlobal): Dentry | null | undefined;
  /** Removes a file made by createBufFile; called from relayClose. */
  removeBufFile?(dentry: Dentry): unknown;
  /**
   * Specifier (URL or package name) of an ES module exporting these callbacks,
   * for threads other than the one that opened the channel.
   */
  module?: string;
}

/** The kernel's default: switch unless the buffer is full (simplest no-overwrite mode). */
export function defaultSubbufStart(buf: RelayBuffer): boolean {
  return !buf.writer.isFull();
}

/** Loads callbacks from a module specifier: its `callbacks` export, else its default export. */
export async function loadCallbacks(specifier: string): Promise<RelayCallbacks> {
  const mod = (await import(specifier)) as { callbacks?: RelayCallbacks; default?: RelayCallbacks };
  const callbacks = mod.callbacks ?? mod.default;
  if (!callbacks || typeof callbacks !== 'object') {
    throw new RelayError('ERELAY_CALLBACKS_REQUIRED', `module ${specifier} exports no relay callbacks (export 'callbacks' or a default object)`);
  }
  return { ...callbacks, module: specifier };
}
