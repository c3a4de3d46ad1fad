import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasNoStack, runCli } from './run-cli.js';

test('--help works on every subcommand, and --version', async () => {
  const subs = ['demo', 'record', 'merge', 'cat', 'top'];
  const results = await Promise.all([...subs.map((s) => runCli([s, '--help'])), runCli(['--help']), runCli(['--version'])]);
  subs.forEach((s, i) => {
    assert.equal(results[i]!.code, 0, s);
    assert.match(results[i]!.stdout, new RegExp(`^Usage: relayfs ${s} `), s);
  });
  const [top, version] = results.slice(subs.length);
  for (const s of [...subs, 'bench']) assert.match(top!.stdout, new RegExp(`^  ${s} `, 'm'));
  assert.match(version!.stdout.trim(), /^\d+\.\d+\.\d+/);
});

test('bench passes its arguments to the bench runner (dist/bench/run.js)', async () => {
  const help = await runCli(['bench', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^relayfs bench \[flags\]/);
  assert.ok(help.stdout.split('\n').length > 3, 'the runner printed its own usage');
  const bad = await runCli(['bench', '--no-such-flag']);
  assert.notEqual(bad.code, 0);
  assert.ok(hasNoStack(bad.stderr));
});

test('usage mistakes and bad input are one clear line and a non-zero status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-errors-'));
  try {
    // Usage mistakes: "relayfs <command>: <what>", status 2. Failures: "relayfs <command>: <CODE>: <what>", status 1.
    const cases: [string[], number, RegExp][] = [
      [['frobnicate'], 2, /^relayfs: unknown command 'frobnicate'/],
      [['record', 'hostfs:/x'], 2, /^relayfs record: required option '-o, --out <dir>'/],
      [['record', 'hostfs:/x', '-o', dir], 2, /^relayfs record: hostfs:\/x is a relay file of this process: add --run <module>/],
      [['record', '--run', join(dir, 'missing.mjs'), 'hostfs:/x', '-o', dir], 2, /^relayfs record: --run .*missing\.mjs: module not found/],
      [['record', '--latency', 'soon', 'x', '-o', dir], 2, /^relayfs record: option '--latency <ms>' argument 'soon' is invalid/],
      [['merge', join(dir, 'nothing-here')], 1, /^relayfs merge: ENOENT: .*nothing-here: no such file or directory/],
      [['cat', join(dir, 'nothing-here')], 1, /^relayfs cat: ENOENT: .*nothing-here: no such file or directory/],
      [['top', 'ftp://example'], 2, /^relayfs top: ftp:\/\/example: unknown source kind "ftp:"/],
      [['merge', dir], 1, /^relayfs merge: ENOENT: .*no per-buffer files in it/],
      [['merge', '-', '-'], 2, /^relayfs merge: - \(standard input\) can be given once/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      const [args, status, pattern] = cases[i]!;
      assert.equal(r.code, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.ok(hasNoStack(r.stderr), `no stack trace for ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
