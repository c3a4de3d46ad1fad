/**
 * The DevTools trace engine (@paulirish/trace_engine, the parser behind the
 * Chrome Performance panel) loaded for tests, with the few parts of its
 * result they look at. Its API is not stable, so only this file knows it.
 */
export interface EngineEvent {
  name: string;
  ph: string;
  cat?: string;
  ts: number;
  dur?: number;
  tid: number;
  pid: number;
  args?: Record<string, unknown>;
}

export interface EngineNode {
  entry: EngineEvent;
  parent: EngineNode | null;
  children: EngineNode[];
}

export interface EngineThread {
  name: string | null;
  entries: EngineEvent[];
  tree: { roots: Set<EngineNode> } | null;
}

export interface EngineResult {
  /** pid → tid → thread, as the Performance panel builds its thread tracks. */
  processes: Map<number, { threads: Map<number, EngineThread> }>;
  /** Every event the engine kept, sorted by time. */
  traceEvents: EngineEvent[];
  traceIsGeneric: boolean;
}

const ENGINE = '@paulirish/trace_engine';

export async function parseWithTraceEngine(events: unknown[]): Promise<EngineResult> {
  const { polyfillDOMRect } = (await import(`${ENGINE}/analyze-trace.mjs`)) as { polyfillDOMRect(): void };
  polyfillDOMRect();
  const Trace = (await import(ENGINE)) as {
    TraceModel: { Model: { createWithAllHandlers(): { parse(e: unknown[]): Promise<void>; parsedTrace(): unknown } } };
  };
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  await model.parse(events);
  const parsed = model.parsedTrace() as {
    traceEvents: EngineEvent[];
    data: { Renderer: { processes: EngineResult['processes'] }; Meta: { traceIsGeneric: boolean } };
  };
  return { processes: parsed.data.Renderer.processes, traceEvents: parsed.traceEvents, traceIsGeneric: parsed.data.Meta.traceIsGeneric };
}

/** Every thread the engine made a track for, by name. */
export function threadsByName(result: EngineResult): Map<string, EngineThread> {
  const out = new Map<string, EngineThread>();
  for (const proc of result.processes.values()) for (const t of proc.threads.values()) out.set(t.name ?? '', t);
  return out;
}

/** Names from a node up to its root: ['level 3', 'level 2', 'level 1']. */
export function ancestry(node: EngineNode): string[] {
  const out: string[] = [];
  for (let n: EngineNode | null = node; n; n = n.parent) out.push(n.entry.name);
  return out;
}

export function* walk(nodes: Iterable<EngineNode>): Generator<EngineNode> {
  for (const n of nodes) {
    yield n;
    yield* walk(n.children);
  }
}
