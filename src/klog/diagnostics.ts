/**
 * A bridge from node:diagnostics_channel into klog: the trace points that
 * Node and libraries already publish (HTTP server requests, HTTP client
 * requests, undici / fetch, any TracingChannel) become klog spans in the
 * thread that publishes them, with no change to the traced code.
 *
 * Channels are per thread, like klog handlers: each thread that should be
 * traced makes this one call (a worker can pass `diagnostics` to klogAttach).
 * Messages cost one klogEnabled check while the thread has no handler.
 */
import * as dc from 'node:diagnostics_channel';
import { invalidArg } from '../errors.js';
import { klogBegin, klogEnd, type SpanArgs, type SpanId } from './span.js';
import { klog, klogEnabled } from './trace.js';

export interface KlogDiagnosticsOptions {
  /** Requests to this thread's http/https servers: http.server.request.start → response finished. Default true. */
  httpServer?: boolean;
  /** Requests made with http.request / https.request: request start → response finished. Default true. */
  httpClient?: boolean;
  /** fetch() and undici requests: created → response headers (or error). Default true. */
  fetch?: boolean;
  /** TracingChannels by name: start → end (sync), or → asyncEnd (promise, callback), is a span named after the channel. */
  tracingChannels?: readonly string[];
  /** Plain channels by name: each message is a text record "name {fields}". */
  channels?: readonly string[];
  /** Arguments of a TracingChannel or plain channel span or record, from its message. Default: its string, number and boolean fields. */
  args?: (channel: string, message: unknown) => SpanArgs | undefined;
}

/** Unsubscribes everything one klogDiagnostics call subscribed. */
export type KlogDiagnosticsOff = () => void;

type Listener = (message: unknown, name: string | symbol) => void;

/**
 * Subscribes, in the calling thread, to the channels the options name (HTTP
 * server, HTTP client and fetch by default) and records their start and end
 * as klog spans in this thread's buffer. Returns the function that undoes it.
 */
export function klogDiagnostics(options: KlogDiagnosticsOptions = {}): KlogDiagnosticsOff {
  const offs: (() => void)[] = [];
  const on = (name: string, fn: Listener): void => {
    dc.subscribe(name, fn);
    offs.push(() => dc.unsubscribe(name, fn));
  };
  const argsOf = options.args ?? primitiveFields;
  try {
    if (options.httpServer !== false) {
      const open = new WeakMap<object, SpanId>();
      on('http.server.request.start', (m) => {
        if (!klogEnabled) return;
        const { request } = m as { request: { method?: string; url?: string } };
        open.set(request, klogBegin(`${request.method ?? 'HTTP'} ${pathOf(request.url)}`, { kind: 'http.server', method: request.method, url: request.url }));
      });
      on('http.server.response.finish', (m) => {
        const { request, response } = m as { request: object; response: { statusCode?: number } };
        endFor(open, request, { status: response.statusCode });
      });
    }
    if (options.httpClient !== false) {
      const open = new WeakMap<object, SpanId>();
      on('http.client.request.start', (m) => {
        if (!klogEnabled) return;
        const { request } = m as { request: { method?: string; host?: string; path?: string } };
        open.set(
          request,
          klogBegin(`http ${request.method ?? ''} ${request.host ?? ''}${pathOf(request.path)}`, {
            kind: 'http.client',
            method: request.method,
            host: request.host,
            path: request.path,
          }),
        );
      });
      on('http.client.response.finish', (m) => {
        const { request, response } = m as { request: object; response: { statusCode?: number } };
        endFor(open, request, { status: response.statusCode });
      });
    }
    if (options.fetch !== false) {
      const open = new WeakMap<object, SpanId>();
      on('undici:request:create', (m) => {
        if (!klogEnabled) return;
        const { request } = m as { request: { method?: string; origin?: unknown; path?: string } };
        const origin = String(request.origin ?? '');
        open.set(request, klogBegin(`fetch ${request.method ?? ''} ${origin}${pathOf(request.path)}`, { kind: 'fetch', method: request.method, origin, path: request.path }));
      });
      on('undici:request:headers', (m) => {
        const { request, response } = m as { request: object; response: { statusCode?: number } };
        endFor(open, request, { status: response.statusCode });
      });
      on('undici:request:error', (m) => {
        const { request, error } = m as { request: object; error: unknown };
        endFor(open, request, { error: errorText(error) });
      });
    }
    for (const name of options.tracingChannels ?? []) subscribeTracing(checkName(name), argsOf, offs);
    for (const name of options.channels ?? []) {
      on(checkName(name), (m) => {
        if (!klogEnabled) return;
        const args = argsOf(name, m);
        klog('%s %j', name, args ?? {});
      });
    }
  } catch (err) {
    for (const off of offs) off();
    throw err;
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const off of offs) off();
  };
}

function subscribeTracing(name: string, argsOf: (channel: string, message: unknown) => SpanArgs | undefined, offs: (() => void)[]): void {
  const tc = dc.tracingChannel(name);
  const open = new WeakMap<object, SpanId>();
  const handlers = {
    start(ctx: object) {
      if (klogEnabled) open.set(ctx, klogBegin(name, argsOf(name, ctx)));
    },
    // traceSync sets result (or error) before end; tracePromise and traceCallback end later, in asyncEnd.
    end(ctx: object) {
      if ('result' in ctx || 'error' in ctx) endFor(open, ctx, errorArgs(ctx));
    },
    asyncStart() {},
    asyncEnd(ctx: object) {
      endFor(open, ctx, errorArgs(ctx));
    },
    error() {},
  };
  tc.subscribe(handlers);
  offs.push(() => tc.unsubscribe(handlers));
}

function endFor(open: WeakMap<object, SpanId>, key: object, args: SpanArgs | undefined): void {
  const id = open.get(key);
  if (id === undefined) return;
  open.delete(key);
  klogEnd(id, args);
}

function errorArgs(ctx: object): SpanArgs | undefined {
  return 'error' in ctx ? { error: errorText((ctx as { error: unknown }).error) } : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** A URL without its query string: span names group by path, the full URL is in the arguments. */
function pathOf(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function primitiveFields(_channel: string, message: unknown): SpanArgs | undefined {
  if (message === null || typeof message !== 'object') return message === undefined ? undefined : { value: message };
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(message)) {
    const v = (message as Record<string, unknown>)[key];
    if (key === 'result' || key === 'error') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') (out ??= {})[key] = v;
  }
  return out;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw invalidArg(`klogDiagnostics: a channel name must be a non-empty string, got ${String(name)}`);
  return name;
}
