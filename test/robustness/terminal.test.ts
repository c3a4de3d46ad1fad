/** #9 item 9: cat and merge never pass a control character of a record to the terminal. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeRecord } from '../../src/klog/index.js';
import { runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'relayfs-terminal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ESC [2J (clear screen), BEL, a C1 CSI, DEL, NUL, a tab, a backspace, CR and LF.
const HOSTILE = 'a\u001b[2Jb\u0007c\u009b31md\u007fe\u0000f\tg\bh\ri\nj\\k';
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/; // every control character but the line feed

test('text output: every control character of a record is escaped', async () => {
  const file = join(dir, 'cpu0');
  writeFileSync(file, encodeRecord({ type: 'text', buffer: 0, thread: 1, seq: 0, timestamp: 0 }, HOSTILE));
  for (const args of [
    ['cat', file],
    ['merge', dir],
  ]) {
    const out = await runCli(args);
    assert.equal(out.code, 0, out.stderr);
    assert.doesNotMatch(out.stdout, CONTROL, `${args[0]}: ${JSON.stringify(out.stdout)}`);
    assert.equal(out.stdout.split('\n').length, 2, 'one line per record');
    assert.ok(out.stdout.includes('a\\x1b[2Jb\\x07c\\x9b31md\\x7fe\\x00f\\tg\\x08h\\ri\\nj\\\\k'), out.stdout);
  }
});

test('JSON output: no raw control character either, and the text round-trips', async () => {
  const file = join(dir, 'cpu0');
  writeFileSync(file, encodeRecord({ type: 'text', buffer: 0, thread: 1, seq: 0, timestamp: 0 }, HOSTILE));
  const out = await runCli(['cat', '--json', file]);
  assert.equal(out.code, 0, out.stderr);
  assert.doesNotMatch(out.stdout, CONTROL);
  assert.equal(JSON.parse(out.stdout).text, HOSTILE);
});
