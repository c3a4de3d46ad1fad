/**
 * Spans and counters (klog record format version 2). A span is a begin and
 * an end record in the calling thread's buffer, matched by an id unique in
 * the thread; spans of one thread nest. klogSpan wraps a function, sync or
 * async, so its span always ends, however the function returns or throws;
 * klogBegin/klogEnd are for the rare span that no function call encloses
 * (begun in one callback, ended in another).
 *
 * Like klog, every call is one check of a module variable while the thread
 * has no handler: no id, no JSON, no record.
 */
import { KLOG_TYPE_COUNTER, KLOG_TYPE_SPAN_BEGIN, KLOG_TYPE_SPAN_END } from './format.js';
import { emitStructured, klogEnabled } from './trace.js';

/** Span arguments: anything JSON.stringify takes (shown in the viewer). */
export type SpanArgs = Readonly<Record<string, unknown>>;

/** What klogBegin returns and klogEnd takes; 0 when no record was made. */
export type SpanId = number;

/** Ids go on across handler registrations, so an end never matches a span of an earlier registration. */
let nextId = 1;

function json(args: SpanArgs | undefined): string {
  if (args === undefined) return '';
  try {
    return JSON.stringify(args) ?? '';
  } catch (err) {
    // A trace call must not throw into the code it traces (a BigInt, a cycle).
    return JSON.stringify({ unserializable: String((err as Error)?.message ?? err) });
  }
}

/** Starts a span in this thread; end it with klogEnd in the same thread. Returns 0 (and records nothing) with no handler. */
export function klogBegin(name: string, args?: SpanArgs): SpanId {
  if (!klogEnabled) return 0;
  const id = nextId;
  nextId = nextId === 0xffffffff ? 1 : nextId + 1;
  emitStructured(KLOG_TYPE_SPAN_BEGIN, id, false, String(name), json(args));
  return id;
}

/** Ends a span begun by klogBegin in this thread; `args` are added to the span's. klogEnd(0) does nothing. */
export function klogEnd(id: SpanId, args?: SpanArgs, name = ''): void {
  if (!klogEnabled || id === 0) return;
  emitStructured(KLOG_TYPE_SPAN_END, id >>> 0, false, name, json(args));
}

/**
 * Runs fn inside a span: begin before, end after it returns, throws, or (for
 * a promise) settles. Returns what fn returns. A thrown error or rejection
 * is recorded in the end record's arguments as `error` and passed on.
 */
export function klogSpan<T>(name: string, fn: () => T): T;
export function klogSpan<T>(name: string, args: SpanArgs | undefined, fn: () => T): T;
export function klogSpan<T>(name: string, argsOrFn: SpanArgs | undefined | (() => T), maybeFn?: () => T): T {
  const fn = typeof argsOrFn === 'function' ? argsOrFn : maybeFn!;
  if (!klogEnabled) return fn();
  const id = klogBegin(name, typeof argsOrFn === 'function' ? undefined : argsOrFn);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    klogEnd(id, errorArgs(err), name);
    throw err;
  }
  if (isThenable(result)) {
    return result.then(
      (value) => {
        klogEnd(id, undefined, name);
        return value;
      },
      (err: unknown) => {
        klogEnd(id, errorArgs(err), name);
        throw err;
      },
    ) as T;
  }
  klogEnd(id, undefined, name);
  return result;
}

/** A counter record: the value of `name` from now on (a counter track in the Chrome export). */
export function klogCounter(name: string, value: number): void {
  if (!klogEnabled) return;
  emitStructured(KLOG_TYPE_COUNTER, Number(value), true, String(name), '');
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}

function errorArgs(err: unknown): SpanArgs {
  return { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}
