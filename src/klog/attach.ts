/**
 * For worker threads: attach a channel opened elsewhere and register it as
 * this thread's klog handler in one call.
 */
import { relayAttach, type ChannelHandle, type RelayCallbacks, type RelayChannel } from '../index.js';
import { registerKlogHandler, type KlogHandlerOptions } from './trace.js';

export async function klogAttach(handle: ChannelHandle, options: KlogHandlerOptions & { callbacks?: RelayCallbacks } = {}): Promise<RelayChannel> {
  const chan = await relayAttach(handle, options.callbacks);
  registerKlogHandler(chan, options);
  return chan;
}
