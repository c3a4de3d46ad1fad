/** The channel and its callbacks over the shared-memory buffers. Pure code. */
export {
  relayOpen,
  relayClose,
  relayFlush,
  relayReset,
  relaySubbufsConsumed,
  relayWrite,
  __relayWrite,
  relayReserve,
  relayReserveOffset,
  relayBufFull,
  subbufStartReserve,
  relayLateSetupFiles,
  relayAttach,
  relayAttachSync,
  setChannelMemoryLimit,
  channelMemoryLimit,
  RELAY_FILE_MODE,
  type RelayOpenOptions,
} from './api.js';
export { RelayBuffer, RelayChannel, type ChannelHandle } from './channel.js';
export { defaultSubbufStart, type IsGlobal, type RelayCallbacks } from './callbacks.js';
