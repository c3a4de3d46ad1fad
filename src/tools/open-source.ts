/**
 * Turns a source name into a RelaySource: "hostfs:/dir" for relay files of
 * this process, a registered scheme ("unix:/path/to/sock[:/dir]" and
 * "pid:N[:/dir]" for another process, see remote-source.ts), anything else
 * for files on disk.
 */
import type { HostFs } from '../hostfs/hostfs.js';
import { DiskSource } from './disk-source.js';
import { SourceError } from './source.js';
import { HostfsSource } from './hostfs-source.js';
import type { RelaySource } from './source.js';

export type SourceFactory = (rest: string) => RelaySource;

const schemes = new Map<string, SourceFactory>();

/** Adds a source scheme ("unix" for "unix:/run/relayfs.sock", say). */
export function registerSourceScheme(scheme: string, factory: SourceFactory): void {
  schemes.set(scheme, factory);
}

export function openSource(spec: string, options: { fs?: HostFs } = {}): RelaySource {
  if (typeof spec !== 'string' || spec.length === 0) throw new SourceError('EINVAL', 'no source given');
  const m = /^([a-z][a-z0-9+.-]+):(.*)$/i.exec(spec);
  if (m && !/^[a-z]$/i.test(m[1]!)) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'hostfs') return new HostfsSource(m[2] || '/', options.fs);
    const factory = schemes.get(scheme);
    if (factory) return factory(m[2]!);
    const known = ['hostfs:', ...[...schemes.keys()].map((s) => `${s}:`)].join(', ');
    throw new SourceError('EINVAL', `${spec}: unknown source kind "${scheme}:" (known: ${known}, or a path on disk)`);
  }
  return new DiskSource(spec);
}
