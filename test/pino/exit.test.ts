/**
 * Exit and crash: a child logs N lines from four workers (which keep
 * running), then throws, calls process.exit, or is sent SIGTERM / SIGINT.
 * Every line that reached a buffer must be in the file: lines on disk plus
 * lines counted as dropped (relayfs.json beside the file) equal N, never less,
 * each line exactly once.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PINO_CHILD, WORKERS } from './fixtures/child.js';

const PER_WORKER = 5000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Lines accepted but not yet written out when the child started to die. */
  pending: number;
}

function runChild(mode: string, file: string, size: 'small' | 'big'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(PINO_CHILD), '--pino-child', mode, file, String(PER_WORKER), size], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('ready\n') && mode.startsWith('sig')) child.kill(mode.startsWith('sigterm') ? 'SIGTERM' : 'SIGINT');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, pending: Number(/pending (\d+)/.exec(stdout)?.[1] ?? NaN) });
    });
  });
}

const cases: [string, (o: Outcome) => void][] = [
  [
    'throw',
    (o) => {
      assert.equal(o.code, 1);
      assert.match(o.stderr, /pino fixture crash/);
    },
  ],
  ['exit', (o) => assert.equal(o.code, 3)],
  ['sigterm', (o) => assert.equal(o.signal, 'SIGTERM')],
  ['sigint', (o) => assert.equal(o.signal, 'SIGINT')],
  // An application SIGTERM handler that exits: relayfs leaves the ending to it and drains at 'exit'.
  ['sigterm-own', (o) => assert.equal(o.code, 7)],
  // A transport target in the consumer thread takes the last lines while the main thread waits at exit.
  ['target-exit', (o) => assert.equal(o.code, 3)],
  ['target-throw', (o) => assert.equal(o.code, 1)],
];

for (const size of ['big', 'small'] as const)
  for (const [mode, check] of cases) {
    const what = size === 'big' ? 'lines still in the buffers' : 'a consumer that fell behind (drops)';
    test(`pino destination, ${what}: every line that reached a buffer is on disk after ${mode}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'relayfs-pino-'));
      try {
        const file = join(dir, 'app.ndjson');
        const outcome = await runChild(mode, file, size);
        check(outcome);
        // Big buffers and a sleeping consumer: the exit drain had work to do.
        if (size === 'big') assert.ok(outcome.pending > 0, `lines pending at exit: ${outcome.pending}`);
        const lines = (existsSync(file) ? readFileSync(file, 'utf8') : '')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { w: number; i: number; msg: string });
        const summary = JSON.parse(readFileSync(`${file}.relayfs.json`, 'utf8')) as { kind: string; pino: { written: number; lost: number; pending: number } };
        assert.equal(summary.kind, 'pino');
        const n = WORKERS * PER_WORKER;
        assert.equal(summary.pino.written + summary.pino.lost, n, 'every line is either accepted or counted as dropped');
        assert.equal(lines.length, n - summary.pino.lost, `${lines.length} lines on disk, ${summary.pino.lost} dropped, of ${n}`);
        if (size === 'small') assert.ok(summary.pino.lost > 0, 'the small buffers dropped lines');
        const seen = new Set(lines.map((l) => `${l.w}/${l.i}`));
        assert.equal(seen.size, lines.length, 'no line twice');
        // Per worker, lines come out in the order they were logged.
        const last = new Map<number, number>();
        for (const l of lines) {
          assert.ok((last.get(l.w) ?? -1) < l.i, `worker ${l.w}: line ${l.i} after ${last.get(l.w)}`);
          last.set(l.w, l.i);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
