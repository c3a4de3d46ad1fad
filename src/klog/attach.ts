/**
 * For worker threads: attach a channel opened elsewhere and register it as
 * this thread's klog handler in one call; with `diagnostics`, also bridge
 * this thread's diagnostics_channel trace points (channels are per thread).
 */
import { relayAttach } from '../channel/api.js';
import type { RelayCallbacks } from '../channel/callbacks.js';
import type { ChannelHandle, RelayChannel } from '../channel/channel.js';
import '../threads.js';
import { klogDiagnostics, type KlogDiagnosticsOptions } from './diagnostics.js';
import { registerKlogHandler, type KlogHandlerOptions } from './trace.js';

export interface KlogAttachOptions extends KlogHandlerOptions {
  callbacks?: RelayCallbacks;
  /** true (HTTP server, HTTP client, fetch) or the options of klogDiagnostics. */
  diagnostics?: boolean | KlogDiagnosticsOptions;
}

export async function klogAttach(handle: ChannelHandle, options: KlogAttachOptions = {}): Promise<RelayChannel> {
  const chan = await relayAttach(handle, options.callbacks);
  registerKlogHandler(chan, options);
  if (options.diagnostics) klogDiagnostics(options.diagnostics === true ? {} : options.diagnostics);
  return chan;
}
