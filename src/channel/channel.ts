/**
 * A relay channel (the kernel's struct rchan) and its buffers (struct
 * rchan_buf), as seen from one thread. Every thread that uses a channel has
 * its own RelayChannel object over the same shared memory; the one made by
 * relayOpen is the opener and owns the relay files.
 *
 * Buffers are made up front (the kernel makes one per possible CPU): each
 * writing thread claims a free one the first time it writes, so a thread
 * started after relayOpen still gets a buffer of its own (the CPU hotplug
 * analog), or ERELAY_NO_BUFFER when none is left. Pure code.
 */
import { type BufferMemory, BufferReader, BufferWriter } from '../buffer/index.js';
import { RelayError, describe } from '../errors.js';
import { defaultSubbufStart, type RelayCallbacks } from './callbacks.js';

// Channel control words (one small SharedArrayBuffer per channel).
const NEXT_SLOT = 0; // buffers claimed so far
const CLOSED = 1; // relayClose was called
const REFS = 2; // the channel itself plus every open relay file
const FREED = 3; // REFS reached zero: memory released
const CONTROL_WORDS = 16;

/**
 * The channel's shared control words: closed flag, buffer claims and the
 * reference count that decides when the memory is released. Readers hold a
 * ChannelControl without a RelayChannel.
 */
export class ChannelControl {
  readonly words: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  static create(): ChannelControl {
    const control = new ChannelControl(new SharedArrayBuffer(CONTROL_WORDS * 4));
    Atomics.store(control.words, REFS, 1);
    return control;
  }

  get sab(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  get closed(): boolean {
    return Atomics.load(this.words, CLOSED) === 1;
  }

  get freed(): boolean {
    return Atomics.load(this.words, FREED) === 1;
  }

  /** Marks the channel closed; true the first time. */
  markClosed(): boolean {
    return Atomics.compareExchange(this.words, CLOSED, 0, 1) === 0;
  }

  /** Takes a reference for an open relay file; false once the memory is released. */
  acquire(): boolean {
    for (;;) {
      const refs = Atomics.load(this.words, REFS);
      if (refs <= 0 || this.freed) return false;
      if (Atomics.compareExchange(this.words, REFS, refs, refs + 1) === refs) return true;
    }
  }

  /** Drops a reference; true when it was the last one (the memory may now go). */
  release(): boolean {
    if (Atomics.sub(this.words, REFS, 1) !== 1) return false;
    Atomics.store(this.words, FREED, 1);
    return true;
  }

  /** Claims the next buffer slot, or -1 when all `count` are taken. */
  claimSlot(count: number): number {
    const slot = Atomics.add(this.words, NEXT_SLOT, 1);
    if (slot < count) return slot;
    Atomics.sub(this.words, NEXT_SLOT, 1);
    return -1;
  }

  claimed(count: number): number {
    return Math.min(Atomics.load(this.words, NEXT_SLOT), count);
  }
}

/** Everything another thread needs to use the channel; passes through postMessage / workerData. */
export interface ChannelHandle {
  readonly kind: 'relayfs.channel';
  readonly version: 1;
  readonly id: string;
  readonly subbufSize: number;
  readonly nSubbufs: number;
  readonly isGlobal: boolean;
  readonly control: SharedArrayBuffer;
  readonly buffers: readonly SharedArrayBuffer[];
  readonly baseFilename: string | null;
  readonly privateData: unknown;
  /** Module every thread imports for the callbacks, if the opener named one. */
  readonly callbacksModule: string | null;
  /** True when the opener's callbacks have functions a writer or mapper runs (subbufStart, bufMapped, bufUnmapped). */
  readonly needsCallbacks: boolean;
}

export interface ChannelInit<P> {
  id: string;
  subbufSize: number;
  nSubbufs: number;
  isGlobal: boolean;
  control: SharedArrayBuffer;
  memories: BufferMemory[];
  baseFilename: string | null;
  parent: unknown;
  callbacks: RelayCallbacks;
  privateData: P;
  opener: boolean;
  callbacksModule: string | null;
  needsCallbacks: boolean;
}

/**
 * A thread died (a terminated worker): releases any buffer lock it held, in
 * every channel this thread knows, so its data stays readable.
 */
export function recoverWriter(identity: number): number {
  let recovered = 0;
  for (const chan of realmChannels.values()) for (const buf of chan.buffers) if (buf.writer.recover(identity)) recovered++;
  return recovered;
}

/** This realm's channel objects by id, so attaching twice yields the same object and buffer. */
const realmChannels = new Map<string, RelayChannel<unknown>>();

export class RelayBuffer<P = unknown> {
  readonly chan: RelayChannel<P>;
  /** The buffer's index: the "cpu" of relaySubbufsConsumed and the N in baseN. */
  readonly cpu: number;
  readonly mem: BufferMemory;
  readonly writer: BufferWriter;
  readonly reader: BufferReader;
  /** What createBufFile returned for this buffer (opener thread only). */
  dentry: unknown = null;

  constructor(chan: RelayChannel<P>, cpu: number, mem: BufferMemory) {
    this.chan = chan;
    this.cpu = cpu;
    this.mem = mem;
    const start = chan.callbacks.subbufStart;
    this.writer = new BufferWriter(
      mem,
      start ? (subbuf, prev, padding) => start.call(chan.callbacks, this, subbuf, prev, padding) : () => defaultSubbufStart(this),
      start !== undefined, // the default never overwrites, so it needs no hold on the oldest sub-buffer
    );
    this.reader = new BufferReader(mem);
  }

  /** buf->chan->private_data. */
  get privateData(): P {
    return this.chan.privateData;
  }
}

export class RelayChannel<P = unknown> {
  readonly id: string;
  readonly subbufSize: number;
  readonly nSubbufs: number;
  readonly privateData: P;
  readonly callbacks: RelayCallbacks;
  /** True in the thread whose relayOpen made the channel: it owns the files. */
  readonly opener: boolean;
  baseFilename: string | null;
  parent: unknown;
  /** The calling thread's buffer, once claimed. */
  own: RelayBuffer<P> | null = null;
  private buffersList: RelayBuffer<P>[];
  readonly control: ChannelControl;
  private readonly callbacksModule: string | null;
  private readonly needsCallbacks: boolean;
  private global: boolean;

  constructor(init: ChannelInit<P>) {
    this.id = init.id;
    this.subbufSize = init.subbufSize;
    this.nSubbufs = init.nSubbufs;
    this.global = init.isGlobal;
    this.privateData = init.privateData;
    this.callbacks = init.callbacks;
    this.opener = init.opener;
    this.baseFilename = init.baseFilename;
    this.parent = init.parent;
    this.control = new ChannelControl(init.control);
    this.callbacksModule = init.callbacksModule;
    this.needsCallbacks = init.needsCallbacks;
    this.buffersList = init.memories.map((mem, cpu) => new RelayBuffer(this, cpu, mem));
    realmChannels.set(this.id, this as RelayChannel<unknown>);
    if (this.opener && (this.callbacks.bufMapped || this.callbacks.bufUnmapped)) this.listenForMappings();
  }

  /** bufMapped / bufUnmapped from threads that cannot run them arrive here, in the opener. */
  private mappingEvents: InstanceType<typeof BroadcastChannel> | null = null;

  private listenForMappings(): void {
    const events = new BroadcastChannel(mappingChannelName(this.id));
    events.onmessage = (ev: MessageEvent) => {
      const { mapped, cpu, filp } = ev.data as MappingEvent;
      const buf = this.buffersList[cpu];
      if (buf) runMappingCallback(this, buf, mapped, filp);
    };
    (events as unknown as { unref?: () => void }).unref?.(); // never keeps a process alive
    this.mappingEvents = events;
  }

  /** The channel object this realm already has for an id, if any. */
  static cached(id: string): RelayChannel<unknown> | undefined {
    return realmChannels.get(id);
  }

  /** Adds a buffer while relayOpen builds the channel. */
  addBuffer(mem: BufferMemory): RelayBuffer<P> {
    const buf = new RelayBuffer(this, this.buffersList.length, mem);
    this.buffersList.push(buf);
    return buf;
  }

  /** One buffer shared by every thread (createBufFile set isGlobal). */
  get isGlobal(): boolean {
    return this.global;
  }

  /** relayOpen: createBufFile asked for a global buffer. */
  markGlobal(): void {
    this.global = true;
  }

  get buffers(): readonly RelayBuffer<P>[] {
    return this.buffersList;
  }

  get closed(): boolean {
    return this.control.closed;
  }

  /** True once the channel is closed and no relay file holds it open. */
  get freed(): boolean {
    return this.control.freed;
  }

  /** Buffers of the channel (claimed or not). */
  get bufferCount(): number {
    return this.buffersList.length;
  }

  /** Buffers claimed by writing threads so far. */
  get claimed(): number {
    return this.isGlobal ? 1 : this.control.claimed(this.buffersList.length);
  }

  /** Claims the calling thread's buffer: the one global buffer, or the next free slot. */
  claim(): RelayBuffer<P> {
    if (this.own) return this.own;
    if (this.closed) throw new RelayError('ERELAY_CLOSED', `channel ${this.baseFilename ?? this.id} is closed`);
    if (this.isGlobal) return (this.own = this.buffersList[0]!);
    const slot = this.control.claimSlot(this.buffersList.length);
    if (slot < 0) {
      throw new RelayError(
        'ERELAY_NO_BUFFER',
        `all ${this.buffersList.length} buffers of channel ${this.baseFilename ?? this.id} are taken by other threads; open it with { buffers: N } for more writer threads`,
      );
    }
    return (this.own = this.buffersList[slot]!);
  }

  buffer(cpu: number): RelayBuffer<P> {
    const buf = Number.isInteger(cpu) ? this.buffersList[cpu] : undefined;
    if (!buf) {
      throw new RelayError('ERELAY_NO_SUCH_BUFFER', `channel has buffers 0..${this.buffersList.length - 1}, not ${describe(cpu)}`);
    }
    return buf;
  }

  /** A structured-clonable description for relayAttach in another thread. */
  handle(): ChannelHandle {
    return {
      kind: 'relayfs.channel',
      version: 1,
      id: this.id,
      subbufSize: this.subbufSize,
      nSubbufs: this.nSubbufs,
      isGlobal: this.isGlobal,
      control: this.control.sab,
      buffers: this.buffersList.map((b) => b.mem.sab),
      baseFilename: this.baseFilename,
      privateData: this.privateData,
      callbacksModule: this.callbacksModule,
      needsCallbacks: this.needsCallbacks,
    };
  }

  /** Drops the channel's own reference (relayClose); the memory goes with the last reader. */
  release(): void {
    if (this.control.release()) this.forget();
  }

  /** Drops this realm's references to the shared memory so it can be reclaimed. */
  forget(): void {
    realmChannels.delete(this.id);
    this.mappingEvents?.close();
    this.mappingEvents = null;
    this.own = null;
    this.buffersList = [];
  }
}

interface MappingEvent {
  mapped: boolean;
  cpu: number;
  filp: unknown;
}

const mappingChannelName = (id: string): string => `relayfs:channel:${id}:mappings`;

function runMappingCallback(chan: RelayChannel<unknown>, buf: RelayBuffer<unknown>, mapped: boolean, filp: unknown): void {
  const fn = mapped ? chan.callbacks.bufMapped : chan.callbacks.bufUnmapped;
  fn?.call(chan.callbacks, buf, filp);
}

/**
 * A reader mapped (or unmapped) buffer `cpu` of channel `id`: runs bufMapped
 * (bufUnmapped) in this thread if it has the channel's callbacks, else in the
 * opener's thread, asynchronously. `filp` must be structured-clonable for that.
 */
export function notifyMapping(id: string, cpu: number, mapped: boolean, filp: unknown, remoteFilp: unknown): void {
  const chan = realmChannels.get(id);
  if (chan && (chan.opener || chan.callbacks.bufMapped || chan.callbacks.bufUnmapped)) {
    const buf = chan.buffers[cpu];
    if (buf) runMappingCallback(chan, buf, mapped, filp);
    return;
  }
  const events = new BroadcastChannel(mappingChannelName(id));
  events.postMessage({ mapped, cpu, filp: remoteFilp } satisfies MappingEvent);
  events.close();
}
