/**
 * Library work on a terminating signal (a flight-recorder dump, removing a
 * socket), shared by every part of relayfs that needs it.
 *
 * A signal listener replaces Node's default action (end the process), so a
 * library that listens for SIGTERM must end the process itself once its work
 * is done, or the process keeps running until SIGKILL. Every relayfs hook
 * runs from one listener per signal; when no listener other than relayfs
 * ones is left, the process is ended the way the signal would have ended it
 * (the signal is re-raised with our listener removed). When the application
 * has a listener of its own, the hooks still run but ending the process is
 * left to the application.
 */

export type SignalHook = (signal: NodeJS.Signals, ending: boolean) => void;

/** Marks listeners of any relayfs copy in the process, so two copies do not take each other for the application. */
const LIBRARY = Symbol.for('relayfs.library-signal-listener');

type Dispatcher = ((signal: NodeJS.Signals) => void) & { [LIBRARY]?: true };

const hooks = new Map<NodeJS.Signals, Set<SignalHook>>();
const dispatchers = new Map<NodeJS.Signals, Dispatcher>();

/**
 * Runs `hook` when `signal` arrives; returns a function that removes it.
 * `ending` tells the hook whether the process will now end (no application
 * listener) or carry on.
 */
export function onSignal(signal: NodeJS.Signals, hook: SignalHook): () => void {
  let set = hooks.get(signal);
  if (!set) hooks.set(signal, (set = new Set()));
  set.add(hook);
  if (!dispatchers.has(signal)) {
    const dispatcher: Dispatcher = (sig) => dispatch(sig);
    dispatcher[LIBRARY] = true;
    process.on(signal, dispatcher); // may throw (a signal that cannot be caught): nothing is recorded then
    dispatchers.set(signal, dispatcher);
  }
  return () => {
    set.delete(hook);
    if (set.size === 0) stopListening(signal);
  };
}

/** Listeners for `signal` that are not relayfs's own. */
export function applicationListeners(signal: NodeJS.Signals): number {
  return process.listeners(signal).filter((fn) => !(fn as Dispatcher)[LIBRARY]).length;
}

/** Marks a listener as library work, so it does not count as the application's (e.g. a dump-and-carry-on signal). */
export function markLibraryListener<F extends (...args: never[]) => void>(fn: F): F {
  (fn as unknown as Dispatcher)[LIBRARY] = true;
  return fn;
}

function dispatch(signal: NodeJS.Signals): void {
  const ending = applicationListeners(signal) === 0;
  for (const hook of [...(hooks.get(signal) ?? [])]) {
    try {
      hook(signal, ending);
    } catch {
      /* one hook's failure must not keep the others from running, or the process from ending */
    }
  }
  if (!ending) return;
  hooks.delete(signal);
  stopListening(signal);
  // With every relayfs listener gone the default action applies (unless another relayfs copy still listens: it re-raises in turn).
  if (applicationListeners(signal) === 0 && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function stopListening(signal: NodeJS.Signals): void {
  const dispatcher = dispatchers.get(signal);
  if (!dispatcher) return;
  dispatchers.delete(signal);
  hooks.delete(signal);
  process.off(signal, dispatcher);
}
