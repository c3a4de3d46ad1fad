// Helpers for code running inside a benchmark worker: the start barrier, the clock,
// the stop condition and the report sent back to the harness (see threads.ts).
import { parentPort, workerData } from 'node:worker_threads';

export interface ThreadData {
  role: 'producer' | 'consumer';
  size: number;
  durationMs: number;
  maxMessages: number;
}

export interface ProducerReport {
  sent: number;
  /** clockNs() just before the first message. */
  t0: number;
  /** clockNs() just after the last message. */
  t1: number;
  /** Producer-side verification, for cases without a consumer thread. */
  ok?: boolean;
  note?: string;
  /** Messages the transport refused and counted (e.g. relayfs no-overwrite mode when full). */
  dropped?: number;
  /** For transports whose consumer thread is not ours to spawn (thread-stream). */
  consumer?: ConsumerReport;
}

export interface ConsumerReport {
  received: number;
  /** Every message had the expected sequence number and stamps. */
  ok: boolean;
  /** clockNs() just after the last message was checked. */
  t1: number;
  note?: string;
  /** Messages the consumer knows were lost and accounted for (e.g. overwritten). */
  dropped?: number;
}

export function threadData<T extends object>(): ThreadData & T {
  return workerData as ThreadData & T;
}

/** Nanoseconds on the process-wide monotonic clock, comparable across threads. */
export function clockNs(): number {
  return Number(process.hrtime.bigint());
}

/** Consumers: tell the harness we are listening. */
export function announceReady(): void {
  parentPort!.postMessage({ type: 'ready' });
}

/** Producers: tell the harness we are set up, then wait until every thread is. */
export function readyThenGo(): Promise<void> {
  return new Promise((resolve) => {
    parentPort!.once('message', () => resolve());
    announceReady();
  });
}

export function report(r: ProducerReport | ConsumerReport): void {
  parentPort!.postMessage({ type: 'result', report: r });
}

/**
 * The producer's stop condition. Reads the clock only every 256 messages: it costs more than a
 * small copy. Never before message 256 (or maxMessages): on a loaded machine a thread can lose
 * its core for longer than a smoke run lasts, and a run of 0 messages cannot verify anything.
 */
export function timeUp(seq: number, endMs: number, maxMessages: number): boolean {
  return seq >= maxMessages || ((seq & 255) === 0 && seq !== 0 && performance.now() >= endMs);
}

const nap = new Int32Array(new SharedArrayBuffer(4));

/** Waiting for the other side without a wake-up signal: spin a little, then sleep ~50 µs. */
export function backoff(spins: number): void {
  if (spins > 64) Atomics.wait(nap, 0, 0, 0.05);
}
