/** #9 item 5: flight-recorder options are checked at open, with typed errors, and a failed open leaves nothing behind. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HostFs, RelayError } from '../../src/index.js';
import { openFlightRecorder, type FlightRecorderOptions } from '../../src/tools/index.js';

const root = mkdtempSync(join(tmpdir(), 'relayfs-flight-opts-'));
after(() => rmSync(root, { recursive: true, force: true }));

const EVENTS = ['exit', 'uncaughtExceptionMonitor', 'SIGTERM', 'SIGINT', 'SIGUSR2', 'SIGHUP'] as const;
const listeners = () => EVENTS.map((e) => process.listenerCount(e));

function isInvalid(err: unknown): boolean {
  return err instanceof RelayError && err.code === 'ERELAY_INVALID_ARG';
}

describe('openFlightRecorder options', () => {
  const bad: [string, unknown][] = [
    ['no options object', undefined],
    ['null', null],
    ['no dumpDir', { dumpDir: undefined }],
    ['a numeric dumpDir', { dumpDir: 42 }],
    ['an empty dumpDir', { dumpDir: '' }],
    ['SIGKILL as dumpSignal', { dumpSignal: 'SIGKILL' }],
    ['a made-up dumpSignal', { dumpSignal: 'SIGNOPE' }],
    ['SIGSTOP in signals', { signals: ['SIGSTOP'] }],
    ['signals not an array', { signals: 'SIGTERM' }],
    ['dumpSignal also in signals', { signals: ['SIGUSR2'], dumpSignal: 'SIGUSR2' }],
    ['klog not a boolean', { klog: 'yes' }],
    ['dumpOnExit of another kind', { dumpOnExit: 'sometimes' }],
    ['a base name with a slash', { base: 'a/b' }],
    ['fs that is not a HostFs', { fs: {} }],
    ['a negative subbufSize', { subbufSize: -1 }],
    ['NaN nSubbufs', { nSubbufs: NaN }],
    ['a huge buffer count', { buffers: 1e9 }],
  ];
  for (const [what, extra] of bad) {
    test(`${what}: ERELAY_INVALID_ARG at open, and nothing left behind`, () => {
      const fsName = `flight-opts-${what.replace(/\W/g, '-')}`;
      const dumpDir = join(root, fsName, 'dumps');
      const options = extra === undefined || extra === null ? extra : { dumpDir, fs: HostFs.get(fsName), ...(extra as object) };
      const before = listeners();
      assert.throws(
        () => openFlightRecorder(options as FlightRecorderOptions),
        (err) => isInvalid(err) || (err instanceof RelayError && err.code === 'ERELAY_NOMEM'),
      );
      assert.deepEqual(listeners(), before, 'no process listener left behind');
      assert.equal(existsSync(dumpDir), false, 'no dump directory made');
      // The same names open cleanly afterwards: no half-open recorder holds them.
      const fs = HostFs.get(fsName);
      assert.equal(fs.files().length, 0);
      const ok = openFlightRecorder({ dumpDir, fs, klog: false, subbufSize: 1024, nSubbufs: 2, buffers: 1 });
      ok.close();
      assert.deepEqual(listeners(), before);
    });
  }

  test('a dumpDir that is a file is refused at open, not when the dump is needed', () => {
    const file = join(root, 'not-a-dir');
    writeFileSync(file, 'x');
    const fs = HostFs.get('flight-opts-file');
    assert.throws(
      () => openFlightRecorder({ dumpDir: join(file, 'sub'), fs, klog: false }),
      (err) => err instanceof RelayError,
    );
    assert.equal(fs.files().length, 0);
    openFlightRecorder({ dumpDir: join(root, 'ok'), fs, klog: false, subbufSize: 1024, nSubbufs: 2, buffers: 1 }).close();
  });

  test('a valid dumpSignal dumps and carries on', async () => {
    const dumpDir = join(root, 'usr2');
    const rec = openFlightRecorder({
      dumpDir,
      fs: HostFs.get('flight-opts-usr2'),
      klog: false,
      dumpSignal: 'SIGUSR2',
      dumpOnExit: false,
      signals: [],
      subbufSize: 1024,
      nSubbufs: 2,
      buffers: 1,
    });
    try {
      const guard = setTimeout(() => {}, 30_000); // a signal does not keep the event loop alive
      const dumped = new Promise<void>((resolve) => process.once('SIGUSR2', () => setImmediate(resolve)));
      process.kill(process.pid, 'SIGUSR2');
      await dumped;
      clearTimeout(guard);
      assert.equal(existsSync(dumpDir), true);
    } finally {
      rec.close();
    }
  });
});
