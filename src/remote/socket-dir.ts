/**
 * Where a producer's socket lives, and the private directory around it.
 * The directory (mode 0700, named by pid) is what keeps other users out:
 * the socket's own mode is only honoured by some systems, and between
 * listen() and chmod() it briefly has the umask's mode.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** Longest socket path Linux and macOS accept (sun_path minus the NUL). */
export const MAX_SOCKET_PATH = 103;

/** $XDG_RUNTIME_DIR when it is set, absolute and ours; else the system temporary directory. */
export function socketBaseDir(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg) && isOwnDirectory(xdg)) return xdg;
  return tmpdir();
}

/** The socket directory of process `pid`: <base>/relayfs-<pid>. */
export function defaultSocketDir(pid: number = process.pid): string {
  return join(socketBaseDir(), `relayfs-${pid}`);
}

/** The socket of host filesystem `fsName` in process `pid`: <base>/relayfs-<pid>/<fsName>.sock. */
export function defaultSocketPath(pid: number = process.pid, fsName = 'root'): string {
  return join(defaultSocketDir(pid), `${fsName}.sock`);
}

/**
 * Sockets other processes of this user expose, by pid: the default
 * directories under the base directory (and the tmpdir), newest first.
 * Only a socket this user owns, in a directory this user owns that nobody
 * else can enter (no group or other bits), counts: anything else may have
 * been planted by another user to receive our requests or feed us data.
 */
export function listSockets(fsName = 'root'): { pid: number; socketPath: string }[] {
  const found = new Map<number, string>();
  for (const base of new Set([socketBaseDir(), tmpdir()])) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^relayfs-(\d+)(?:-[A-Za-z0-9]+)?$/.exec(name);
      if (!m || !isPrivateDirectory(join(base, name))) continue;
      const socketPath = join(base, name, `${fsName}.sock`);
      try {
        const st = lstatSync(socketPath);
        if (st.isSocket() && isOurs(st.uid)) found.set(Number(m[1]), socketPath);
      } catch {
        /* no socket for that filesystem */
      }
    }
  }
  return [...found].map(([pid, socketPath]) => ({ pid, socketPath })).sort((a, b) => b.pid - a.pid);
}

/**
 * The socket process `pid` exposes for host filesystem `fsName`, checked as
 * listSockets checks; null when there is none (or only an untrusted one).
 * Shared by RelayRemote({ pid }) and the command line's --pid / pid:.
 */
export function findSocket(pid: number, fsName = 'root'): string | null {
  return listSockets(fsName).find((s) => s.pid === pid)?.socketPath ?? null;
}

/**
 * Creates (or takes back, after a crash of an earlier process with the same
 * pid) this process's private socket directory. A path someone else owns, or
 * that is not a plain directory, is never used: we fall back to a fresh
 * mkdtemp directory instead.
 */
export function makePrivateDir(pid: number = process.pid): string {
  const dir = defaultSocketDir(pid);
  try {
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700); // the umask may have taken bits away; never added any
    return dir;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (isOwnDirectory(dir)) {
    chmodSync(dir, 0o700);
    return dir;
  }
  const fresh = mkdtempSync(join(socketBaseDir(), `relayfs-${pid}-`));
  chmodSync(fresh, 0o700);
  return fresh;
}

/** Removes a socket file (only if a socket is still there) and, optionally, its directory if now empty. */
export function removeSocket(socketPath: string | null, dir: string | null): void {
  try {
    if (socketPath !== null && lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
  } catch {
    /* already gone */
  }
  if (dir === null) return;
  try {
    rmdirSync(dir);
  } catch {
    /* another exposure of this process still uses it, or it is gone */
  }
}

function isOwnDirectory(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && !st.isSymbolicLink() && isOurs(st.uid);
  } catch {
    return false;
  }
}

/** Ours, and closed to group and others (makePrivateDir makes them 0700). */
function isPrivateDirectory(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && !st.isSymbolicLink() && isOurs(st.uid) && (process.platform === 'win32' || (st.mode & 0o077) === 0);
  } catch {
    return false;
  }
}

function isOurs(uid: number): boolean {
  const me = process.getuid?.();
  return me === undefined || uid === me;
}
