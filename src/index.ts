/**
 * relayfs: the Linux kernel relay interface for JavaScript.
 * This Node.js entry adds the host filesystem and file operations to the
 * pure core (buffer/, channel/).
 */
import { availableParallelism } from 'node:os';
import { setDefaultBufferCount } from './channel/api.js';

setDefaultBufferCount(availableParallelism());

export * from './channel/index.js';
export { RelayError, type RelayErrorCode } from './errors.js';
export type { BufferStats } from './buffer/index.js';
export * from './hostfs/index.js';
