import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KlogFormatError, RelayError, RelayRemote, RemoteError, SourceError, decodeRecords, hostfs, openSource, relayOpen, hostfsCallbacks } from '../src/index.js';
import { ProtocolError, parseRequest } from '../src/remote/protocol.js';
import { CliError, usageError } from '../src/cli/errors.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('the library throws only RelayErrors: no plain Error, TypeError or RangeError, no error class outside the family', () => {
  const offenders: string[] = [];
  for (const file of sources(SRC)) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/new (Error|TypeError|RangeError|SyntaxError)\(/.test(line) || (/class \w+ extends Error\b/.test(line) && !file.endsWith('errors.ts'))) {
          offenders.push(`${file.slice(SRC.length + 1)}:${i + 1}: ${line.trim()}`);
        }
      });
  }
  assert.deepEqual(offenders, []);
});

test('every error class is a RelayError with a stable code, its detail, and its own name', async () => {
  const caught: unknown[] = [];
  const grab = async (f: () => unknown) => {
    try {
      await f();
      assert.fail('expected a throw');
    } catch (err) {
      caught.push(err);
    }
  };
  await grab(() => relayOpen('x', null, 0, 4, hostfsCallbacks()));
  await grab(() => [...decodeRecords(new TextEncoder().encode('not klog records'))]);
  await grab(() => parseRequest('DELETE', '/v1/files'));
  await grab(() => new RelayRemote({ socketPath: '/nonexistent/relayfs.sock' }).list());
  await grab(() => openSource('ftp://example').list());
  await grab(() => hostfs.open('/no/such/file'));
  caught.push(usageError('bad flag'));
  const [channel, klog, protocol, remote, source, fsErr, cli] = caught as RelayError[];
  assert.ok(channel instanceof RelayError && channel.code === 'ERELAY_INVALID_ARG');
  assert.ok(klog instanceof KlogFormatError && klog.code === 'EKLOG_BAD_MAGIC' && klog.name === 'KlogFormatError');
  assert.ok(protocol instanceof ProtocolError && protocol.code === 'EMETHOD' && protocol.status === 405);
  assert.ok(remote instanceof RemoteError && remote.code === 'ENOENT' && remote.status === 0 && remote.cause instanceof Error);
  assert.ok(source instanceof SourceError && source.code === 'EINVAL');
  assert.ok(fsErr instanceof RelayError && fsErr.code === 'ENOENT');
  assert.ok(cli instanceof CliError && cli.code === 'ERELAY_USAGE' && cli.exitCode === 2);
  for (const err of caught as RelayError[]) {
    assert.ok(err instanceof RelayError, String(err));
    assert.match(err.code, /^E[A-Z_]+$/);
    assert.equal(err.message, `${err.code}: ${err.detail}`);
    assert.ok(!err.detail.startsWith(err.code), err.detail);
  }
  assert.deepEqual(protocol.body().error.message, protocol.detail, 'the wire message carries no code prefix');
});
