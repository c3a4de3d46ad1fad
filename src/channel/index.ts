/** The channel and its callbacks over the shared-memory buffers. Pure code. */
export * from './api.js';
export { ChannelControl, RelayBuffer, RelayChannel, notifyMapping, recoverWriter, type ChannelHandle } from './channel.js';
export { defaultSubbufStart, loadCallbacks, type IsGlobal, type RelayCallbacks } from './callbacks.js';
