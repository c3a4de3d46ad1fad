/**
 * The consuming read of one relay file onto one HTTP response, and its
 * follow mode (the poll() analog). Data is consumed from the relay buffer
 * only when the socket has drained what was sent before, so a slow or
 * vanished reader holds back at most one chunk, and a reader that
 * disconnects loses only what had already been handed to its socket.
 * Every chunk ends on a message boundary, so the next reader of the file
 * starts at a whole message.
 */
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RelayFile } from '../hostfs/index.js';
import type { KeptWindow } from './kept-window.js';
import type { EndReason, ReadOptions } from './protocol.js';

export interface PumpControl {
  /** Set when the server shuts down: follow reads end after the readable data is sent. */
  readonly stopping: boolean;
}

/** A kept read: the window, this read's claim on it, and where in it the read starts. */
export interface KeptRead {
  window: KeptWindow;
  id: number;
  from: number;
}

/**
 * Moves data from `file` to `res` until the read is done. Returns why it
 * ended, or 'aborted' when the client went away. A kept read first sends
 * what the window holds from `from` on, then keeps what it consumes.
 */
export async function pump(file: RelayFile, res: ServerResponse, opts: ReadOptions, control: PumpControl, kept?: KeptRead): Promise<EndReason | 'aborted'> {
  let sent = 0;
  let settleUntil = 0;
  if (kept) {
    for (const chunk of kept.window.since(kept.from)) {
      const part = chunk.subarray(0, Math.min(chunk.length, opts.max - sent));
      sent += part.length;
      if (!res.write(part) && !(await drained(res))) return 'aborted';
      if (sent >= opts.max) return 'max';
    }
  }
  for (;;) {
    if (gone(res) || file.closed) return 'aborted';
    let room = opts.max - sent;
    if (kept) {
      if (!kept.window.owns(kept.id)) return 'replaced';
      room = Math.min(room, kept.window.room());
      if (room === 0) {
        // Full: consume nothing until the reader releases (the writers see a full buffer meanwhile).
        if (!opts.follow) return 'drained';
        if (control.stopping) return 'shutdown';
        await kept.window.changed(opts.latency);
        continue;
      }
    }
    // Sample hangup before reading: if the channel was closed by then, this read sees everything written.
    const hangup = file.hangup;
    const data = room === Infinity ? file.read() : file.read(room);
    kept?.window.append(data);
    if (data.length > 0) {
      sent += data.length;
      const flushed = res.write(data);
      if (sent >= opts.max) return 'max';
      if (!flushed && !(await drained(res))) return 'aborted';
      if (!opts.follow) {
        // A plain read returns what was readable when asked; after a hangup, the finite rest.
        if (hangup) continue;
        return 'drained';
      }
      // Let data accumulate up to a sub-buffer boundary, but never longer than the latency.
      if (!hangup) await file.poll(opts.latency);
      continue;
    }
    if (hangup) {
      if (file.drained()) return 'hangup';
      settleUntil ||= performance.now() + SETTLE_MS;
      if (performance.now() >= settleUntil) return 'hangup'; // a writer that died inside a switch never lets go
      await sleep(1);
      continue;
    }
    if (!opts.follow) return 'drained';
    if (control.stopping) return 'shutdown';
    await file.poll(opts.latency);
  }
}

/**
 * After a hangup, an empty read is not yet proof that the file is drained:
 * the core's read() returns nothing for a sub-buffer whose lock a writer
 * holds, and relayClose wakes pollers before it releases that lock. So the
 * stream ends once file.drained() says no switch is under way, retrying the
 * read every millisecond meanwhile, for at most SETTLE_MS (a writer preempted
 * inside a switch on a busy machine lets go; one that died there never does).
 */
const SETTLE_MS = 2000;

/** Nothing is consumed for a response that cannot go out: cut, not on its connection yet, or the connection ended. */
function gone(res: ServerResponse): boolean {
  return res.destroyed || res.socket === null || res.socket.destroyed || !res.socket.writable;
}

/**
 * Resolves true once the connection has taken what was written, false if it closes first.
 * Waits on the socket's own 'drain': Node forwards it to the response only while the
 * connection is plain HTTP, and not after a CONNECT pipelined behind this read.
 */
function drained(res: ServerResponse): Promise<boolean> {
  const socket = res.socket;
  if (!socket || socket.destroyed) return Promise.resolve(false); // its 'close' has been and gone
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      for (const emitter of [res, socket]) emitter.off('drain', onDrain).off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    for (const emitter of [res, socket]) emitter.on('drain', onDrain).on('close', onClose);
  });
}
