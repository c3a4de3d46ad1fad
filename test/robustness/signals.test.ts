/**
 * #9 item 1: whoever handles a terminating signal for a dump or a cleanup
 * ends the process as the signal would, unless the application listens too.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { killAll, run } from './fixtures/spawn.js';

const CHILD = new URL('./fixtures/signal-child.js', import.meta.url);
after(killAll);

function dumpsOf(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('terminating signals with several relayfs listeners', { timeout: 120_000 }, () => {
  for (const mode of ['expose', 'two']) {
    test(`SIGTERM ends a process with ${mode === 'expose' ? 'a flight recorder and exposeRelayFiles' : 'two flight recorders'}, after the dump`, async () => {
      const dumpDir = mkdtempSync(join(tmpdir(), 'relayfs-sig-'));
      try {
        const child = run(CHILD, ['--signal-child', mode, dumpDir]);
        const ready = await child.line(/^ready /);
        const socket = ready.slice('ready '.length);
        child.proc.kill('SIGTERM');
        const end = await child.exit();
        assert.equal(end.signal, 'SIGTERM', `ended by the signal (code ${end.code}, stderr ${end.stderr})`);
        const dumps = dumpsOf(dumpDir);
        assert.equal(dumps.length, mode === 'two' ? 2 : 1, `dumps: ${dumps.join(', ')}`);
        assert.ok(
          dumps.every((d) => d.endsWith('-SIGTERM')),
          dumps.join(', '),
        );
        if (socket !== '-') assert.equal(existsSync(socket), false, 'the socket is removed');
      } finally {
        rmSync(dumpDir, { recursive: true, force: true });
      }
    });
  }

  test('an application SIGTERM listener decides: the dump is made and the application ends the process', async () => {
    const dumpDir = mkdtempSync(join(tmpdir(), 'relayfs-sig-'));
    try {
      const child = run(CHILD, ['--signal-child', 'app', dumpDir]);
      const ready = await child.line(/^ready /);
      const socket = ready.slice('ready '.length);
      child.proc.kill('SIGTERM');
      const end = await child.exit();
      assert.equal(end.signal, null);
      assert.equal(end.code, 7, end.stderr);
      assert.match(end.stdout, /app handled SIGTERM/);
      assert.ok(
        dumpsOf(dumpDir).some((d) => d.endsWith('-SIGTERM')),
        dumpsOf(dumpDir).join(', '),
      );
      assert.equal(existsSync(socket), false, 'the socket is removed at exit');
    } finally {
      rmSync(dumpDir, { recursive: true, force: true });
    }
  });
});
