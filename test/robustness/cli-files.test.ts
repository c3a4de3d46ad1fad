/**
 * Every command that reads files (cat, merge, export, record of a directory)
 * fed random, truncated and corrupted files: each run ends with a clean exit
 * (0, or an error line without a stack trace), never a hang or a crash. The
 * deadline is a hang guard, not a timing assertion.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeRecord } from '../../src/klog/index.js';
import { CLI, hasNoStack } from '../cli/run-cli.js';
import { killAll, run } from './fixtures/spawn.js';

const root = mkdtempSync(join(tmpdir(), 'relayfs-cli-fuzz-'));
after(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

/** A valid recording of n records, text and raw, from two threads. */
function validFile(n: number, seed: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const thread = (seed + i) % 2;
    parts.push(
      i % 3 === 2
        ? encodeRecord({ type: 'raw', timestamp: 1e9 + i * 1000, seq: i, thread, buffer: 0 }, new Uint8Array(i % 40).fill(i))
        : encodeRecord({ type: 'text', timestamp: 1e9 + i * 1000, seq: i, thread, buffer: 0 }, `record ${i} of ${seed}`),
    );
  }
  return Buffer.concat(parts);
}

/** Files that should never make a command hang or crash. */
function hostileFiles(): [string, Buffer][] {
  const files: [string, Buffer][] = [];
  const rnd = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 8192, size: 'max' }), { numRuns: 2, seed: 9 });
  rnd.forEach((b, i) => files.push([`random-${i}`, Buffer.from(b)]));
  const valid = validFile(60, 1);
  for (const cut of fc.sample(fc.integer({ min: 1, max: valid.length - 1 }), { numRuns: 2, seed: 10 })) files.push([`truncated-${cut}`, valid.subarray(0, cut)]);
  const flips = fc.sample(fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }), { numRuns: 2, seed: 11 });
  flips.forEach((list, i) => {
    const b = Buffer.from(valid);
    for (const [at, x] of list) b[at]! ^= x;
    files.push([`flipped-${i}`, b]);
  });
  // A header that claims 2^31-1 payload bytes, then some data; a header with an unknown type; an empty file.
  const liar = Buffer.from(encodeRecord({ type: 'raw', timestamp: 0, seq: 0, thread: 0, buffer: 0 }, new Uint8Array(0)));
  liar.writeUInt32LE(0x7fffffff, 4);
  files.push(['liar', Buffer.concat([liar, Buffer.alloc(1 << 20, 0x41)])]);
  const unknown = Buffer.from(valid);
  unknown[3] = 99;
  files.push(['unknown-type', unknown]);
  files.push(['empty', Buffer.alloc(0)]);
  return files;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

async function runCommand(args: string[]): Promise<Outcome> {
  const child = run(CLI, args, { guardMs: 60_000 });
  return child.exit();
}

function assertClean(what: string, out: Outcome): void {
  assert.equal(out.signal, null, `${what}: killed by ${out.signal} (hang guard?)`);
  assert.ok(out.code === 0 || out.code === 1 || out.code === 2 || out.code === 3, `${what}: exit code ${out.code}\n${out.stderr}`);
  assert.ok(hasNoStack(out.stderr), `${what}: a stack trace\n${out.stderr}`);
  if (out.code !== 0) assert.match(out.stderr, /^relayfs/m, `${what}: an error line that names the tool\n${out.stderr}`);
}

describe('CLI commands on random, truncated and corrupted files', { timeout: 600_000 }, () => {
  const files = hostileFiles();
  for (const [name, bytes] of files) {
    test(`${name} (${bytes.length} bytes): cat, cat --json, cat --raw, merge, export end cleanly`, async () => {
      const dir = join(root, name);
      mkdirSync(dir);
      const file = join(dir, 'cpu0');
      writeFileSync(file, bytes);
      writeFileSync(join(dir, 'cpu1'), validFile(5, 2)); // merge reads both; one good file beside the bad one
      const runs: [string, string[]][] = [
        ['cat', ['cat', file]],
        ['cat --json', ['cat', '--json', file]],
        ['cat --raw', ['cat', '--raw', file]],
        ['merge', ['merge', dir]],
        ['export', ['export', dir, '-o', join(root, `${name}.json`)]],
      ];
      const outcomes = await Promise.all(runs.map(([, args]) => runCommand(args)));
      outcomes.forEach((out, i) => assertClean(`${runs[i]![0]} ${name}`, out));
      if (name === 'empty') assert.equal(outcomes[0]!.code, 0);
    });
  }
});
