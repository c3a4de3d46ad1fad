/**
 * record, cat and top against another process: a producer child process
 * exposes its relay files (klog writers in worker threads), and the real
 * command line runs as a separate process with --socket / --pid / unix:.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeRecords } from '../../src/klog/index.js';
import { RemoteSource, record, type Sidecar } from '../../src/tools/index.js';
import type { KlogWorkerResult } from '../tools/fixtures/klog-worker.js';
import type { RemoteProducerConfig } from './fixtures/remote-producer.js';
import { hasNoStack, runCli, startCli, type CliResult } from './run-cli.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/remote-producer.js', import.meta.url));
const live = new Set<ChildProcess>();
after(() => {
  for (const p of live) p.kill('SIGKILL');
});

type Event = { event: string } & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The producer child: JSON lines out, commands in; every wait is bounded. */
class Producer {
  readonly proc: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly events: Event[] = [];
  private readonly waiters: ((e: Event) => void)[] = [];
  private stderr = '';

  constructor(config: RemoteProducerConfig) {
    this.proc = spawn(process.execPath, [FIXTURE], {
      env: { ...process.env, RELAYFS_TEST_REMOTE_PRODUCER: JSON.stringify(config) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(this.proc);
    this.exit = new Promise((resolve) => this.proc.once('exit', (code, signal) => (live.delete(this.proc), resolve({ code, signal }))));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Event;
      const w = this.waiters.shift();
      if (w) w(e);
      else this.events.push(e);
    });
  }

  /** The next event line, which must be `event`. */
  async next(event: string, timeoutMs = 60_000): Promise<Event> {
    const e =
      this.events.shift() ??
      (await new Promise<Event>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${event}" from the producer within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
        this.waiters.push((got) => (clearTimeout(timer), resolve(got)));
        void this.exit.then(({ code, signal }) => reject(new Error(`producer exited (${code ?? signal}) before "${event}"; stderr: ${this.stderr}`)));
      }));
    assert.equal(e.event, event, `producer said ${JSON.stringify(e)}`);
    return e;
  }

  send(cmd: string): void {
    this.proc.stdin!.write(cmd + '\n');
  }

  async end(): Promise<void> {
    this.send('exit');
    const { code } = await this.exit;
    assert.equal(code, 0, this.stderr);
  }
}

async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function oneLineError(r: CliResult, command: string, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `exit status for: ${r.stderr}`);
  assert.ok(hasNoStack(r.stderr), `no stack trace: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  // Runtime errors carry their code ("relayfs top: ESRCH: no process ..."), usage errors do not.
  assert.match(lines[0]!, new RegExp(`^relayfs ${command}: (?:E[A-Z_]+: )?${pattern.source}`));
}

test('record --socket: every file of another process to disk; records decode in sequence; delivered + dropped = written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-remote-'));
  const out = join(dir, 'out');
  try {
    const prod = new Producer({ writers: 3, count: 20_000, subbufSize: 16 * 1024, nSubbufs: 8, pauseMs: 1 });
    const { socketPath } = await prod.next('ready');
    const rec = startCli(['record', '--socket', socketPath, '-o', out, '--json', '--latency', '20']);
    // The sidecar appears once every file is open: the files are leased by the server from then on.
    await until('record has opened the files', () => existsSync(join(out, 'relayfs.json')));
    prod.send('write');
    const writers = (await prod.next('written')).writers as KlogWorkerResult[];
    prod.send('close');
    await prod.next('closed');
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    await prod.end();

    const summary = JSON.parse(r.stdout) as Sidecar;
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'relayfs.json'), 'utf8')), summary);
    assert.equal(summary.source, `unix:${socketPath}`);
    assert.equal(summary.reason, 'hangup');
    assert.equal(summary.complete, true);
    assert.deepEqual(summary.warnings, []);
    assert.deepEqual(
      summary.buffers.map((b) => b.name),
      ['cpu0', 'cpu1', 'cpu2'],
    );
    let recorded = 0;
    for (const w of writers) {
      const b = summary.buffers.find((x) => x.cpu === w.cpu)!;
      assert.ok(b, `a file for buffer ${w.cpu}`);
      assert.equal(b.stats!.closed, true, `${b.name}: final counters (X-Relay-Stats at hangup)`);
      assert.equal(b.written, b.records, `${b.name}: every accepted record reached the file`);
      assert.equal(b.records! + b.lost!, w.stats.records, `${b.name}: delivered + dropped = written`);
      assert.equal(b.lost, w.stats.dropped, `${b.name}: drops as the writer counted them`);
      assert.equal(b.unread, 0);

      const bytes = readFileSync(join(out, b.file));
      assert.equal(bytes.length, b.bytes);
      const recs = [...decodeRecords(bytes)]; // throws on a cut or corrupt record
      assert.equal(recs.length, b.records);
      let prev = -1;
      for (const rec of recs) {
        assert.equal(rec.thread, w.threadId, `${b.name} holds its own writer's records only`);
        assert.ok(rec.seq > prev, `${b.name}: sequence numbers only go up (${prev} then ${rec.seq})`);
        prev = rec.seq;
      }
      assert.ok(prev < w.stats.records);
      recorded += recs.length;
    }
    assert.ok(recorded > 0);

    // merge reads the recording like any other: same records, in timestamp order, losses where sequences jump.
    const m = await runCli(['merge', '--json', out]);
    assert.equal(m.code, 0, m.stderr);
    const lines = m.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; ts: number; count?: number });
    const recs = lines.filter((l) => l.kind === 'record');
    assert.equal(recs.length, summary.totals.records);
    recs.forEach((rec, i) => i > 0 && assert.ok(rec.ts >= recs[i - 1]!.ts));
    assert.ok(lines.filter((l) => l.kind === 'loss').reduce((n, l) => n + l.count!, 0) <= summary.totals.lost!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with more files than follow slots, the rest are read by polling, with the same exact accounting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-remote-poll-'));
  try {
    const prod = new Producer({ writers: 3, count: 5_000, subbufSize: 64 * 1024, nSubbufs: 8, pauseMs: 1 });
    const { socketPath } = await prod.next('ready');
    const source = new RemoteSource({ socketPath, path: '/trace', maxFollows: 1, maxRequests: 1 });
    assert.equal(source.description, `unix:${socketPath}:/trace`);
    const recording = record({ source, outDir: dir, latency: 10 });
    await until('recording started', () => existsSync(join(dir, 'relayfs.json')));
    prod.send('write');
    const writers = (await prod.next('written')).writers as KlogWorkerResult[];
    prod.send('close');
    await prod.next('closed');
    const summary = await recording;
    await prod.end();
    assert.equal(summary.reason, 'hangup');
    for (const w of writers) {
      const b = summary.buffers.find((x) => x.cpu === w.cpu)!;
      assert.equal(b.records! + b.lost!, w.stats.records, `${b.name}: delivered + dropped = written`);
      assert.equal(b.written, b.records);
      const recs = [...decodeRecords(readFileSync(join(dir, b.file)))];
      assert.equal(recs.length, b.records);
      recs.forEach((rec, i) => i > 0 && assert.ok(rec.seq > recs[i - 1]!.seq));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cat --socket prints the consuming read; cat -f unix:SOCKET:/path follows until the channel closes', async () => {
  const prod = new Producer({ writers: 1, buffers: 2, count: 300, subbufSize: 64 * 1024, nSubbufs: 4 });
  const { socketPath } = await prod.next('ready');
  prod.send('write');
  const [first] = (await prod.next('written')).writers as KlogWorkerResult[];
  assert.equal(first!.cpu, 0);
  assert.equal(first!.stats.dropped, 0);

  const r = await runCli(['cat', '--socket', socketPath, '/trace/cpu0']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 300);
  lines.forEach((l, i) => assert.match(l, new RegExp(` #${i} `)));
  assert.match(lines[0]!, /writer 0 record 0$/);
  const again = await runCli(['cat', '--socket', socketPath, '/trace/cpu0']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, '', 'the read consumed the data');

  // Follow the second buffer, which the next writer thread claims.
  const follow = startCli(['cat', '--json', '-f', `unix:${socketPath}:/trace/cpu1`]);
  let printed = '';
  follow.child.stdout!.on('data', (d: Buffer) => (printed += d.toString()));
  prod.send('write');
  await prod.next('written');
  await until('cat -f printed records', () => printed.includes('\n'));
  prod.send('close');
  await prod.next('closed');
  const f = await follow.done;
  assert.equal(f.code, 0, f.stderr);
  const recs = f.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; seq: number; buffer: number });
  assert.equal(recs.length, 300);
  recs.forEach((rec, i) => {
    assert.equal(rec.kind, 'record');
    assert.equal(rec.seq, i);
    assert.equal(rec.buffer, 1);
  });
  await prod.end();
});

test('top --socket / --pid: JSON lines of live counters, until the channel closes', async () => {
  const prod = new Producer({ writers: 2, count: 500, subbufSize: 16 * 1024, nSubbufs: 4 });
  const { socketPath, pid } = await prod.next('ready');
  prod.send('write');
  const writers = (await prod.next('written')).writers as KlogWorkerResult[];

  const r = await runCli(['top', '--socket', socketPath, '--json', '--count', '2', '--interval', '50']);
  assert.equal(r.code, 0, r.stderr);
  const frames = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(frames.length, 2);
  for (const frame of frames) {
    assert.equal(frame.source, `unix:${socketPath}`);
    assert.equal(frame.closed, false);
    assert.deepEqual(
      frame.buffers.map((b: { name: string }) => b.name),
      ['cpu0', 'cpu1'],
    );
    for (const b of frame.buffers) {
      const w = writers.find((x) => `cpu${x.cpu}` === b.name)!;
      assert.equal(b.written, w.stats.written, 'top reads the counters without consuming');
      assert.equal(b.lost, w.stats.dropped);
      assert.ok(b.fill > 0 && b.fill <= 1, `fill ${b.fill}`);
    }
  }

  // Without --count it runs until the producer closes the channel.
  const top = startCli(['top', '--pid', String(pid), '--json', '--interval', '50']);
  let printed = '';
  top.child.stdout!.on('data', (d: Buffer) => (printed += d.toString()));
  await until('top printed a frame', () => printed.includes('\n'));
  prod.send('close');
  await prod.next('closed');
  const t = await top.done;
  assert.equal(t.code, 0, t.stderr);
  const last = JSON.parse(t.stdout.trim().split('\n').at(-1)!);
  assert.equal(last.closed, true);
  assert.equal(last.source, `unix:${socketPath}`);
  await prod.end();
});

test('a producer killed while recording: one line, non-zero status, an incomplete sidecar; its stale socket: connection refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-remote-kill-'));
  try {
    const prod = new Producer({ writers: 1, count: 1_000_000, subbufSize: 16 * 1024, nSubbufs: 8, pauseMs: 1 });
    const { socketPath } = await prod.next('ready');
    prod.send('write');
    const rec = startCli(['record', '--socket', socketPath, '-o', dir, '--json']);
    await until('data was recorded', () => existsSync(join(dir, 'cpu0')) && statSync(join(dir, 'cpu0')).size > 0);
    prod.proc.kill('SIGKILL');
    await prod.exit;
    const r = await rec.done;
    oneLineError(r, 'record', /.*(lost in the middle of a read|connection refused|producer has gone)/);
    const sidecar = JSON.parse(readFileSync(join(dir, 'relayfs.json'), 'utf8')) as Sidecar;
    assert.equal(sidecar.complete, false);
    assert.equal(sidecar.reason, 'error');
    const recs = [...decodeRecords(readFileSync(join(dir, 'cpu0')))]; // what arrived is whole records
    assert.ok(recs.length > 0);

    // SIGKILL leaves the socket file behind: nobody answers on it.
    assert.ok(existsSync(socketPath));
    const top = await runCli(['top', '--socket', socketPath, '--json', '--count', '1']);
    oneLineError(top, 'top', /.*connection refused/);
    rmSync(dirname(socketPath), { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no such socket, no such process, bad combinations: one line and a non-zero status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-remote-err-'));
  try {
    const missing = join(dir, 'nobody.sock');
    const gone = spawn(process.execPath, ['-e', '']);
    const deadPid = gone.pid!;
    await new Promise((r) => gone.once('exit', r));
    const cases: [string[], string, RegExp][] = [
      [['record', '--socket', missing, '-o', join(dir, 'out')], 'record', /.*nobody\.sock: no such socket/],
      [['cat', '--socket', missing, '/trace/cpu0'], 'cat', /.*nobody\.sock: no such socket/],
      [['top', `unix:${missing}:/trace`], 'top', /.*nobody\.sock: no such socket/],
      [['top', '--pid', String(deadPid)], 'top', new RegExp(`no process with pid ${deadPid}`)],
      [['top', '--pid', String(process.pid)], 'top', new RegExp(`process ${process.pid} does not expose its relay files`)],
      [['cat', '--socket', missing], 'cat', /cat prints one relay file/],
      [['top', '--socket', missing, 'trace'], 'top', /with --socket the argument is a path in the producer's relay tree/],
      [['top', '--socket', missing, '--pid', '1'], 'top', /give --socket or --pid, not both/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => oneLineError(r, cases[i]![1], cases[i]![2]));
    assert.equal(existsSync(join(dir, 'out', 'relayfs.json')), false, 'nothing recorded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help of record, cat and top tells about --socket and --pid', async () => {
  const results = await Promise.all(['record', 'cat', 'top'].map((cmd) => runCli([cmd, '--help'])));
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--socket <path>/);
    assert.match(r.stdout, /--pid <pid>/);
    assert.match(r.stdout, /exposeRelayFiles\(\)/);
  }
});
