/**
 * Remote relay files across real processes: a producer process whose
 * worker threads write, consumer processes that only speak the protocol.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { consumer, killAll, producer, type Event } from './fixtures/child.js';
import { MessageParser } from './fixtures/messages.js';

after(killAll);

interface WriterReport {
  id: number;
  attempts: number;
  accepted: number;
}

interface FileStats {
  path: string;
  messagesWritten: number;
  bytesWritten: number;
  droppedFull: number;
  bytesRead: number;
}

describe('remote relay files between processes', { timeout: 300_000 }, () => {
  test('a consumer process gets every accepted message once, in order; delivered + dropped = written', async (t) => {
    const prod = producer({ writers: 2, subbufSize: 16 * 1024, nSubbufs: 8, burst: 256 });
    const ready = await prod.next('ready');
    const cons = consumer({ socketPath: ready.socketPath, mode: 'all', progressBytes: 512 * 1024 });
    const listed = await cons.next('listed');
    assert.deepEqual(listed.files, ['/trace/cpu0', '/trace/cpu1']);
    await cons.next('progress');
    prod.send('stop');
    const closed = await prod.next('closed');
    const done = await cons.next('done');
    prod.send('exit');
    assert.equal((await prod.waitExit()).code, 0);
    assert.equal(existsSync(ready.socketPath), false, 'the socket is removed when the producer exits');
    assert.equal((await cons.waitExit()).code, 0);

    const writers = closed.writers as WriterReport[];
    const stats = closed.stats as FileStats[];
    let delivered = 0;
    for (const s of stats) {
      const got = done.files[s.path];
      assert.deepEqual(got.errors, [], `${s.path}: no torn, duplicated or reordered message`);
      assert.equal(got.leftover, 0, `${s.path}: the stream ends on a message boundary`);
      assert.equal(got.end.reason, 'hangup');
      const ids = Object.keys(got.perWriter);
      assert.ok(ids.length <= 1, `${s.path} holds one writer's messages (its own buffer)`);
      if (ids.length === 0) {
        assert.equal(s.messagesWritten, 0);
        continue;
      }
      const w = writers.find((r) => String(r.id) === ids[0])!;
      const mine = got.perWriter[ids[0]!];
      // Exact accounting: everything accepted arrived; everything else was counted as dropped.
      assert.equal(mine.count, s.messagesWritten, `${s.path}: delivered = accepted`);
      assert.equal(mine.count, w.accepted, `${s.path}: the writer's own count agrees`);
      assert.equal(mine.count + s.droppedFull, w.attempts, `${s.path}: delivered + dropped = written`);
      assert.equal(got.bytes, s.bytesWritten, `${s.path}: bytes delivered = bytes accepted`);
      assert.equal(got.end.stats.messagesWritten, s.messagesWritten, 'the X-Relay-Stats trailer matches the producer');
      delivered += mine.count;
    }
    assert.ok(delivered > 0, 'something was delivered');
    const dropped = stats.reduce((n, s) => n + s.droppedFull, 0);
    t.diagnostic(`delivered ${delivered} messages, dropped ${dropped} (buffer full)`);
  });

  test('a reader killed mid-stream loses only what was in flight; the next reader continues without duplicates', async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'relayfs-remote-test-'));
    try {
      const prod = producer({ writers: 1, subbufSize: 64 * 1024, nSubbufs: 8, burst: 256 });
      const ready = await prod.next('ready');
      const first = join(work, 'first.bin');
      const second = join(work, 'second.bin');

      const r1 = consumer({ socketPath: ready.socketPath, mode: 'raw', path: '/trace/cpu0', out: first, progressBytes: 256 * 1024 });
      await r1.next('progress');
      r1.proc.kill('SIGKILL');
      await r1.waitExit();

      const r2 = consumer({ socketPath: ready.socketPath, mode: 'raw', path: '/trace/cpu0', out: second, progressBytes: 256 * 1024 });
      await r2.next('progress'); // the producer kept writing while readers came and went
      prod.send('stop');
      const closed = await prod.next('closed');
      const done = await r2.next('done');
      assert.equal(done.end.reason, 'hangup');
      prod.send('exit');
      await prod.waitExit();

      const a = new MessageParser();
      a.push(readFileSync(first));
      const b = new MessageParser();
      b.push(readFileSync(second));
      assert.deepEqual(a.errors, []);
      assert.deepEqual(b.errors, [], 'the second reader starts on a whole message');
      assert.equal(b.leftover, 0);
      assert.ok(a.messages.length > 0 && b.messages.length > 0);
      const lastA = a.messages[a.messages.length - 1]!.seq;
      const firstB = b.messages[0]!.seq;
      assert.ok(firstB > lastA, `no message is delivered twice (first reader ended at ${lastA}, second began at ${firstB})`);

      const s = (closed.stats as FileStats[])[0]!;
      const w = (closed.writers as WriterReport[])[0]!;
      const delivered = a.messages.length + b.messages.length;
      const lost = s.messagesWritten - delivered;
      assert.equal(s.messagesWritten + s.droppedFull, w.attempts);
      assert.ok(lost >= 0, 'nothing is delivered that was not written');
      // What was lost had been consumed for the killed reader: bounded by one read plus socket buffers.
      // The trailer's counters are taken after the last read; the producer's 'closed' report may precede it.
      const bytesRead = (done.end.stats as FileStats | undefined)?.bytesRead ?? s.bytesRead;
      const lostBytes = bytesRead - a.bytes - a.leftover - b.bytes;
      assert.ok(lostBytes >= 0);
      assert.ok(lostBytes <= 64 * 1024 * 8 + 8 * 1024 * 1024, `lost ${lostBytes} bytes: no more than was in flight`);
      t.diagnostic(`first reader ${a.messages.length} messages, second ${b.messages.length}, in flight at the kill ${lost} (${lostBytes} bytes), dropped ${s.droppedFull}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('a follower learns that the producer died: an error, not a clean end', async () => {
    const work = mkdtempSync(join(tmpdir(), 'relayfs-remote-test-'));
    try {
      const prod = producer({ writers: 1, subbufSize: 4096, nSubbufs: 8, burst: 64 });
      const ready = await prod.next('ready');
      const reader = consumer({ socketPath: ready.socketPath, mode: 'raw', path: '/trace/cpu0', out: join(work, 'out.bin'), progressBytes: 1 });
      await reader.next('progress');
      prod.proc.kill('SIGKILL');
      await prod.waitExit();
      await assert.rejects(reader.next('done'), /ECONNRESET/);
      assert.equal((await reader.waitExit()).code, 1);
      rmSync(ready.socketPath, { force: true }); // SIGKILL leaves the socket; the next server with that pid would replace it
      rmSync(dirname(ready.socketPath), { recursive: true, force: true });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  for (const how of ['SIGTERM', 'SIGINT', 'exit', 'end'] as const) {
    test(`the socket is private and is removed when the producer ends (${how})`, async () => {
      const prod = producer({ writers: 1, subbufSize: 4096, nSubbufs: 4, burst: 16 });
      const ready: Event = await prod.next('ready');
      const dir = dirname(ready.socketPath);
      const uid = process.getuid!();
      const dirStat = statSync(dir);
      assert.equal(dirStat.mode & 0o777, 0o700, 'socket directory is 0700');
      assert.equal(dirStat.uid, uid);
      const sockStat = statSync(ready.socketPath);
      assert.ok(sockStat.isSocket());
      assert.equal(sockStat.mode & 0o777, 0o600, 'socket is 0600');
      assert.match(dir, new RegExp(`relayfs-${ready.pid}$`), 'the directory is named by pid');

      if (how === 'SIGTERM' || how === 'SIGINT') {
        prod.proc.kill(how);
        const { signal } = await prod.waitExit();
        assert.equal(signal, how, 'the signal still ends the process as it would have');
      } else {
        prod.send(how);
        if (how === 'end') await prod.next('closed'); // then the event loop runs dry: the server does not hold it
        assert.equal((await prod.waitExit()).code, 0);
      }
      assert.equal(existsSync(ready.socketPath), false, 'socket removed');
      assert.equal(existsSync(dir), false, 'directory removed');
    });
  }
});
