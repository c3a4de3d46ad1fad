/** The host filesystem of relay files and the file operations on them (Node.js). */
export { HostFs, hostfs, hostfsCallbacks, type DirListing, type FileEntry, type OpenOptions, type RelayDentry } from './hostfs.js';
export { RelayFile, POLLERR, POLLHUP, POLLIN, POLLRDNORM, type ChunkOptions, type PollOptions, type PollResult, type RelayChunk, type SendfileOptions } from './relay-file.js';
export { RelayMapping } from './mapping.js';
