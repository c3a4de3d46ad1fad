/**
 * Callbacks of an overwrite-mode ("flight recorder") channel: subbufStart
 * always returns 1, as relay.rst shows, so writes never fail and the oldest
 * sub-buffer is taken over when the buffer is full. Workers import this
 * module (callbacks.module) to get the same subbufStart.
 */
import type { RelayCallbacks } from '../channel/callbacks.js';
import { hostfs, hostfsCallbacks, type HostFs } from '../hostfs/hostfs.js';

/** What every thread needs: the switch always happens. */
export const callbacks: RelayCallbacks = {
  subbufStart: () => 1,
};

/** The opener's callbacks: relay files in a host filesystem, overwrite mode, and this module for other threads. */
export function overwriteCallbacks(fs: HostFs = hostfs): RelayCallbacks {
  return { ...hostfsCallbacks(fs), subbufStart: () => 1, module: import.meta.url };
}
