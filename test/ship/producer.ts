/**
 * Processes for the ship tests: a producer child (test/cli/fixtures/remote-producer:
 * klog writers in worker threads, relay files exposed on its socket), and
 * helpers that wait for events with a deadline.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RemoteProducerConfig } from '../cli/fixtures/remote-producer.js';

const FIXTURE = fileURLToPath(new URL('../cli/fixtures/remote-producer.js', import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', killProducers);

/** Kills every producer still running (a failed test leaves them waiting for commands). */
export function killProducers(): void {
  for (const p of live) p.kill('SIGKILL');
}

type Event = { event: string } & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export class Producer {
  readonly proc: ChildProcess;
  readonly exit: Promise<number | null>;
  private readonly events: Event[] = [];
  private readonly waiters: ((e: Event) => void)[] = [];
  private stderr = '';

  constructor(config: RemoteProducerConfig) {
    this.proc = spawn(process.execPath, [FIXTURE], { env: { ...process.env, RELAYFS_TEST_REMOTE_PRODUCER: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.exit = new Promise((resolve) => this.proc.once('exit', (code) => (live.delete(this.proc), resolve(code))));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Event;
      const w = this.waiters.shift();
      if (w) w(e);
      else this.events.push(e);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async next(event: string, timeoutMs = 60_000): Promise<Event> {
    const e =
      this.events.shift() ??
      (await new Promise<Event>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${event}" from the producer within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
        this.waiters.push((got) => (clearTimeout(timer), resolve(got)));
        void this.exit.then((code) => reject(new Error(`producer exited (${code}) before "${event}"; stderr: ${this.stderr}`)));
      }));
    assert.equal(e.event, event, `producer said ${JSON.stringify(e)}`);
    return e;
  }

  send(cmd: string): void {
    this.proc.stdin!.write(cmd + '\n');
  }

  async end(): Promise<void> {
    this.send('exit');
    assert.equal(await this.exit, 0, this.stderr);
  }
}

/** Checks `ok` until it holds (the event has happened), or fails after the deadline. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
