/**
 * #9 item 7: RelayRemote({ pid }) makes the same owner and mode checks as
 * `relayfs cat --pid`: a socket in a relayfs-<pid> directory another user
 * owns (or one anybody can enter) is never connected to.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RelayError, RelayRemote, RemoteError } from '../../src/index.js';
import { runCli } from '../cli/run-cli.js';

// A pid that is certainly not ours; it need not be alive for the lookup.
const PID = 4_000_000 + (process.pid % 100_000);
const dir = join(tmpdir(), `relayfs-${PID}`);
const socketPath = join(dir, 'root.sock');
const isRoot = process.getuid?.() === 0;

/** A fake server that counts the connections it gets. */
async function fakeServer(): Promise<{ server: Server; connections: () => number }> {
  let n = 0;
  const server = createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ server: 'relayfs', protocol: 1, pid: PID, fs: 'root', tcp: false }));
  });
  server.on('connection', () => n++);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { server, connections: () => n };
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('a planted socket', () => {
  const plants: [string, () => void][] = [
    ['a directory anybody can enter (0777)', () => chmodSync(dir, 0o777)],
    ['a directory open to its group (0750)', () => chmodSync(dir, 0o750)],
  ];
  if (isRoot) {
    plants.push(['a directory and socket another user owns', () => (chownSync(dir, 65534, 65534), chownSync(socketPath, 65534, 65534))]);
  }
  for (const [what, plant] of plants) {
    test(`${what}: RelayRemote({ pid }) and cat --pid both refuse it and never connect`, async () => {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { mode: 0o700 });
      const fake = await fakeServer();
      try {
        plant();
        await assert.rejects(new RelayRemote({ pid: PID }).info(), (err) => err instanceof RemoteError && err.code === 'ENOENT');
        const cli = await runCli(['cat', '--pid', String(PID), '/x/cpu0']);
        assert.notEqual(cli.code, 0);
        assert.equal(fake.connections(), 0, 'no connection to the planted server');
      } finally {
        fake.server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('the same socket in a private directory of ours is used (the check, not the path, refused it)', async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    const fake = await fakeServer();
    try {
      const info = await new RelayRemote({ pid: PID }).info();
      assert.equal(info.pid, PID);
      assert.equal(fake.connections(), 1);
    } finally {
      fake.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a pid that is not a whole number above 0 is refused at construction', () => {
    for (const pid of [0, -1, 1.5, NaN, '12']) {
      assert.throws(
        () => new RelayRemote({ pid: pid as number }),
        (err) => err instanceof RelayError && err.code === 'ERELAY_INVALID_ARG',
      );
    }
  });
});
