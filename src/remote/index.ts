/**
 * Relay files reachable from other processes: the server (exposeRelayFiles),
 * the client (RelayRemote) and the protocol's JSON shapes. Shapes are
 * exported with a Remote prefix so this module can be re-exported whole.
 */
export { exposeRelayFiles, type ExposeOptions, type RelayFileServer } from './server.js';
export {
  RelayRemote,
  RemoteError,
  RemoteFollow,
  connectRemote,
  type ReadEnd as RemoteReadEnd,
  type ReadResult as RemoteReadResult,
  type RemoteFollowOptions,
  type RemoteOptions,
  type RemoteReadOptions,
} from './client.js';
export { defaultSocketPath, listSockets } from './socket-dir.js';
export {
  PROTOCOL_VERSION as REMOTE_PROTOCOL_VERSION,
  type ChannelInfo as RemoteChannelInfo,
  type EndReason as RemoteEndReason,
  type ErrorBody as RemoteErrorBody,
  type FileInfo as RemoteFileInfo,
  type Listing as RemoteListing,
  type ServerInfo as RemoteServerInfo,
} from './protocol.js';
