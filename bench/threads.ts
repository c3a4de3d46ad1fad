// Main-thread side of a measurement: spawn the producer (and consumer) workers, hold the
// producer until every worker is ready, collect their reports and turn them into a RunResult.
import { Worker, type Transferable } from 'node:worker_threads';
import type { RunOptions, RunResult } from './types.js';
import type { ConsumerReport, ProducerReport, ThreadData } from './worker-side.js';

export interface ThreadSpec {
  /** The compiled worker module, e.g. new URL('./x-worker.js', import.meta.url). */
  url: URL;
  data?: Record<string, unknown>;
  transfer?: Transferable[];
}

/** One producer thread (or several: then their reports are summed) and an optional consumer thread. */
export async function runThreads(size: number, opts: RunOptions, producer: ThreadSpec | ThreadSpec[], consumer?: ThreadSpec): Promise<RunResult> {
  const common = { size, durationMs: opts.durationMs, maxMessages: opts.maxMessages };
  const producers = (Array.isArray(producer) ? producer : [producer]).map((spec) => start<ProducerReport>(spec, { ...common, role: 'producer' }));
  const p = producers.length === 1 ? producers[0]! : combine(producers);
  const c = consumer ? start<ConsumerReport>(consumer, { ...common, role: 'consumer' }) : undefined;
  const threads = [...producers, ...(c ? [c] : [])];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
  });
  try {
    await Promise.race([Promise.all(threads.map((t) => t.ready)), timeout]);
    p.worker.postMessage({ type: 'go' });
    const [pr, cr] = await Promise.race([Promise.all([p.result, c?.result]), timeout]);
    return settle(size, pr, cr ?? pr.consumer);
  } finally {
    clearTimeout(timer);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}

/** Several producers seen as one: started together, reports summed, earliest start and latest end. */
function combine(producers: Started<ProducerReport>[]): Started<ProducerReport> {
  const result = Promise.all(producers.map((q) => q.result)).then((rs) => ({
    sent: rs.reduce((n, r) => n + r.sent, 0),
    dropped: rs.reduce((n, r) => n + (r.dropped ?? 0), 0),
    t0: Math.min(...rs.map((r) => r.t0)),
    t1: Math.max(...rs.map((r) => r.t1)),
    ok: rs.every((r) => r.ok !== false),
    note:
      rs
        .map((r) => r.note)
        .filter(Boolean)
        .join('; ') || undefined,
  }));
  result.catch(() => {});
  const go = { postMessage: (m: unknown) => producers.forEach((q) => q.worker.postMessage(m)) } as unknown as Worker;
  return { worker: go, ready: Promise.all(producers.map((q) => q.ready)).then(() => {}), result };
}

interface Started<R> {
  worker: Worker;
  ready: Promise<void>;
  result: Promise<R>;
}

function start<R>(spec: ThreadSpec, data: ThreadData): Started<R> {
  const worker = new Worker(spec.url, {
    workerData: { ...spec.data, ...data },
    transferList: spec.transfer,
  });
  let readyOk!: () => void, readyFail!: (e: Error) => void;
  let resultOk!: (r: R) => void, resultFail!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((readyOk = res), (readyFail = rej)));
  const result = new Promise<R>((res, rej) => ((resultOk = res), (resultFail = rej)));
  // Either promise may be abandoned when the other fails; keep that from crashing the process.
  ready.catch(() => {});
  result.catch(() => {});
  const fail = (e: Error): void => (readyFail(e), resultFail(e));
  worker.on('message', (m: { type: string; report?: R }) => {
    if (m.type === 'ready') readyOk();
    else if (m.type === 'result') resultOk(m.report as R);
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`${data.role} exited (code ${code}) before reporting`)));
  return { worker, ready, result };
}

function settle(size: number, p: ProducerReport, c: ConsumerReport | undefined): RunResult {
  if (!c) {
    const ok = p.ok === true && p.sent > 0;
    return { messages: p.sent, bytes: p.sent * size, seconds: (p.t1 - p.t0) / 1e9, verified: ok, note: p.note };
  }
  // Every message sent is either received or counted as dropped, by one side or the other.
  const dropped = (p.dropped ?? 0) + (c.dropped ?? 0);
  const notes = [p.note, c.note];
  if (c.received + dropped !== p.sent) notes.push(`sent ${p.sent}, received ${c.received}, dropped ${dropped}`);
  const note = notes.filter(Boolean).join('; ') || undefined;
  const verified = p.ok !== false && c.ok && c.received + dropped === p.sent && c.received > 0;
  const seconds = (c.t1 - p.t0) / 1e9;
  return { messages: c.received, bytes: c.received * size, seconds, verified, dropped: dropped || undefined, note };
}
