/** relayfs/pino: a pino destination backed by a relay channel. */
export { RelayDestination, relayDestination, type PinoDestinationStats, type PinoTarget, type RelayDestinationHandle, type RelayDestinationOptions } from './destination.js';
