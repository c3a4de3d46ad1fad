/** relayDestination in one process: threads, order, consumers, flush, drops and their counts. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker, threadId } from 'node:worker_threads';
import { once } from 'node:events';
import pino from 'pino';
import { RelayError } from '../../src/index.js';
import { relayDestination } from '../../src/pino/index.js';
import { freshFs } from '../helpers.js';
import { runCli } from '../cli/run-cli.js';
import { startLockstep } from './fixtures/lockstep.js';
import { TARGET } from './fixtures/target.js';

function tempDir(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-pino-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const readLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('lines of four worker threads reach the file in timestamp order, each once', async () => {
  const { dir, done } = tempDir();
  try {
    const file = join(dir, 'app.ndjson');
    const dest = relayDestination({ dest: file, fs: freshFs(), threads: 5 });
    const lines = 2000;
    await Promise.all(startLockstep(dest.handle(), 4, lines));
    await dest.end();
    const got = readLines(file);
    assert.deepEqual(
      got.map((l) => l.k),
      Array.from({ length: lines }, (_, k) => k),
    );
    const stats = dest.stats();
    assert.equal(stats.written, lines);
    assert.equal(stats.delivered, lines);
    assert.equal(stats.lost, 0);
    assert.equal(stats.late, 0);
    const sidecar = JSON.parse(readFileSync(`${file}.relayfs.json`, 'utf8')) as { kind: string; reason: string; totals: { written: number; lost: number } };
    assert.equal(sidecar.kind, 'pino');
    assert.equal(sidecar.reason, 'end');
    assert.deepEqual([sidecar.totals.written, sidecar.totals.lost], [lines, 0]);
  } finally {
    done();
  }
});

test('flush(cb) calls back once the lines are in the file; flushSync writes them before it returns', async () => {
  const { dir, done } = tempDir();
  try {
    const file = join(dir, 'app.ndjson');
    // A consumer that would otherwise sleep a minute: only the flushes bring the lines out.
    const dest = relayDestination({ dest: file, fs: freshFs(), latency: 60_000, subbufSize: 1024 * 1024, nSubbufs: 2 });
    const log = pino(dest);
    log.info('one');
    log.info('two');
    await new Promise<void>((resolve, reject) => log.flush((err) => (err ? reject(err) : resolve())));
    assert.deepEqual(
      readLines(file).map((l) => l.msg),
      ['one', 'two'],
    );
    log.info('three');
    dest.flushSync();
    assert.deepEqual(
      readLines(file).map((l) => l.msg),
      ['one', 'two', 'three'],
    );
    await dest.end();
  } finally {
    done();
  }
});

test('a full buffer drops lines and counts them: written + dropped = logged, in stats()', async () => {
  const dest = relayDestination({ dest: null, fs: freshFs(), subbufSize: 4096, nSubbufs: 2, threads: 1 });
  const log = pino(dest);
  for (let i = 0; i < 1000; i++) log.info({ i }, 'no consumer');
  const s = dest.stats();
  assert.ok(s.dropped.full > 0);
  assert.equal(s.written + s.dropped.full, 1000);
  assert.equal(s.lost, s.dropped.full);
  // No consumer: flush has nobody to wait for.
  await new Promise<void>((resolve, reject) => log.flush((err) => (err ? reject(err) : resolve())));
  await dest.end();
});

test('a line longer than a sub-buffer is dropped as tooBig; the next one goes through', async () => {
  const { dir, done } = tempDir();
  try {
    const file = join(dir, 'app.ndjson');
    const dest = relayDestination({ dest: file, fs: freshFs(), subbufSize: 1024, nSubbufs: 4 });
    const log = pino(dest);
    log.info('x'.repeat(2000));
    log.info('é'.repeat(400)); // 800 bytes of UTF-8 in 400 characters: fits
    await dest.end();
    assert.deepEqual(
      readLines(file).map((l) => (l.msg as string).length),
      [400],
    );
    assert.equal(dest.stats().dropped.tooBig, 1);
  } finally {
    done();
  }
});

test('a pino-abstract-transport target runs in a thread of its own and gets every line', async () => {
  const { dir, done } = tempDir();
  try {
    const file = join(dir, 'target.ndjson');
    const dest = relayDestination({ dest: { target: fileURLToPath(TARGET), options: { file } }, fs: freshFs() });
    const log = pino(dest);
    for (let i = 0; i < 100; i++) log.info({ i }, 'to the target');
    await dest.end();
    const got = readLines(file);
    assert.deepEqual(
      got.map((l) => l.i),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.ok(got.every((l) => l.targetThread !== threadId && typeof l.targetThread === 'number'));
  } finally {
    done();
  }
});

test('stdout: every line, as NDJSON a pipe (| pino-pretty) can read', async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/stdout-child.js', import.meta.url)), '--pino-stdout', '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise((resolve) => child.once('close', resolve));
  assert.equal(code, 0);
  const lines = out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { i: number });
  assert.deepEqual(
    lines.map((l) => l.i),
    Array.from({ length: 500 }, (_, i) => i),
  );
});

test('relayfs top shows the destination buffer: lines written and lost', async () => {
  const producer = fileURLToPath(new URL('./fixtures/top-producer.js', import.meta.url));
  const r = await runCli(['top', '--run', producer, 'hostfs:/pino-top', '--count', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const frame = JSON.parse(r.stdout.trim().split('\n')[0]!) as { buffers: { name: string; written: number; lost: number }[] };
  const cpu0 = frame.buffers.find((b) => b.name === 'cpu0')!;
  assert.ok(cpu0.lost > 0);
  assert.equal(cpu0.written + cpu0.lost, 1000);
});

test('bad options and one thread too many are typed errors, at set-up rather than in a log call', async () => {
  assert.throws(
    () => relayDestination({ dest: 42 as unknown as string, fs: freshFs() }),
    (e: unknown) => e instanceof RelayError && e.code === 'ERELAY_INVALID_ARG',
  );
  const dest = relayDestination({ dest: null, fs: freshFs(), threads: 1 });
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { relayDestination } = await import(workerData.module);
    try { relayDestination(workerData.handle); parentPort.postMessage('attached'); } catch (e) { parentPort.postMessage(e.code); }`;
  const worker = new Worker(code, { eval: true, workerData: { module: new URL('../../src/pino/index.js', import.meta.url).href, handle: dest.handle() } });
  const [answer] = (await once(worker, 'message')) as [string];
  assert.equal(answer, 'ERELAY_NO_BUFFER');
  await dest.end();
});
