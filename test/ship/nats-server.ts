/**
 * A real nats-server with JetStream for the tests: a free loopback port, a
 * temporary store directory, ready when it says so on its log and a client
 * has connected. Fails with one clear line when nats-server is not installed
 * (CI installs it: .ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';

export interface NatsServerOptions {
  user?: string;
  pass?: string;
  /** max_payload in bytes (the server's default is 1 MiB). */
  maxPayload?: number;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function natsServerPath(): string {
  // Debian installs it in /usr/sbin, which a non-root PATH may not have.
  const found = spawnSync('sh', ['-c', 'command -v nats-server || { test -x /usr/sbin/nats-server && echo /usr/sbin/nats-server; }'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error('nats-server is not installed: these tests need a real server (apt-get install -y nats-server; .ci/run does it)');
  return found;
}

/** A port nothing listens on now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export class NatsServer {
  readonly port: number;
  readonly storeDir: string;
  readonly options: NatsServerOptions;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  log = '';
  /** The server's version, from its log. */
  version = '';

  private constructor(port: number, storeDir: string, options: NatsServerOptions) {
    this.port = port;
    this.storeDir = storeDir;
    this.options = options;
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const s = new NatsServer(await freePort(), mkdtempSync(join(tmpdir(), 'relayfs-nats-')), options);
    await s.launch();
    return s;
  }

  /** nats://[user:pass@]127.0.0.1:PORT */
  url(withCredentials = true): string {
    const { user, pass } = this.options;
    return `nats://${withCredentials && user ? `${encodeURIComponent(user)}:${encodeURIComponent(pass ?? '')}@` : ''}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts the server (again, on the same port and store) and waits until a client gets in. */
  async launch(): Promise<void> {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir];
    if (this.options.user) args.push('--user', this.options.user, '--pass', this.options.pass ?? '');
    if (this.options.maxPayload) {
      const conf = join(this.storeDir, 'server.conf');
      writeFileSync(conf, `max_payload: ${this.options.maxPayload}\n`);
      args.push('-c', conf);
    }
    this.log = ''; // a restart must see its own "ready"
    const proc = spawn(natsServerPath(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    live.add(proc);
    this.exited = new Promise((resolve) => proc.once('exit', () => (live.delete(proc), resolve())));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not get ready within 20 s:\n${this.log}`)), 20_000);
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
        this.log += d;
        this.version ||= /Version:\s+(\S+)/.exec(this.log)?.[1] ?? '';
        if (this.log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}) before it was ready:\n${this.log}`));
      });
    });
    // Ready means a client can connect and JetStream answers.
    const nc = await connect({ servers: `127.0.0.1:${this.port}`, user: this.options.user, pass: this.options.pass, reconnect: false });
    await nc.request('$JS.API.INFO', undefined, { timeout: 10_000 });
    await nc.close();
  }

  /** Kills the server (SIGKILL: a crash) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.proc?.kill(signal);
    this.proc = null;
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
