/** Paths in a host filesystem: absolute, '/'-separated, no '.' or '..' components. */
import { RelayError, checkName, describe, invalidArg } from '../errors.js';

/** Checks one file or directory name. */
export function checkEntryName(name: unknown): string {
  return checkName(name, 'a name', 255);
}

/** Normalises a path to '/a/b' form; rejects '..' and '.' components rather than resolving them. */
export function normalizePath(path: unknown): string {
  if (typeof path !== 'string') throw invalidArg(`a path must be a string, got ${describe(path)}`);
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const part of parts) {
    if (part === '..' || part === '.' || part.includes('\0') || part.includes('\\')) {
      throw new RelayError('ENOENT', `path ${JSON.stringify(path)} has a '${part}' component: relay paths never leave their tree`);
    }
  }
  return '/' + parts.join('/');
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export function parentOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at <= 0 ? '/' : path.slice(0, at);
}
