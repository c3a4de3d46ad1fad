/**
 * ship across processes, against a real nats-server -js: producers with klog
 * writers in worker threads, shippers as real `relayfs ship` processes. Two
 * producers shipped and rebuilt whole; a shipper killed with SIGKILL and
 * started again (a directory: byte for byte; a live buffer: exact
 * accounting); the server killed and started again mid-stream.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { decodeRecords, recordText, type KlogRecord } from '../../src/klog/index.js';
import { merge } from '../../src/tools/index.js';
import { recordFromNats, type NatsRecordSummary } from '../../src/ship/index.js';
import type { KlogWorkerResult } from '../tools/fixtures/klog-worker.js';
import { startCli, type CliRun } from '../cli/run-cli.js';
import { NatsServer } from './nats-server.js';
import { Producer, killProducers, until } from './producer.js';
import { recordedDirFiles } from './fixtures.js';

let server: NatsServer;
let jsm: JetStreamManager;
let closeNc: () => Promise<void>;
const dirs: string[] = [];
const running = new Set<CliRun>();

before(async () => {
  server = await NatsServer.start();
  const nc = await connect({ servers: server.url() });
  jsm = await jetstreamManager(nc);
  closeNc = () => nc.close();
});
after(async () => {
  for (const r of running) r.child.kill('SIGKILL');
  killProducers();
  await closeNc?.();
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'relayfs-ship-proc-'));
  dirs.push(d);
  return d;
}

/** `relayfs ship` into stream `stream`, subjects `<stream in lower case>.>`. */
function shipper(source: string, stream: string): CliRun {
  const run = startCli(['ship', source, '--nats', server.url(), '--stream', stream, '--subject-prefix', stream.toLowerCase(), '--json', '--latency', '20']);
  running.add(run);
  void run.done.then(() => running.delete(run));
  return run;
}

async function addStream(name: string, more: Record<string, unknown> = {}): Promise<void> {
  await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], ...more });
}

/** Messages in `stream` on `<stream in lower case>.<filter>`. */
async function subjectCount(stream: string, filter: string): Promise<number> {
  const subjects = (await jsm.streams.info(stream, { subjects_filter: `${stream.toLowerCase()}.${filter}` })).state.subjects ?? {};
  return Object.values(subjects).reduce((n, c) => n + c, 0);
}

/** The rebuilt directory of one producer (<host>-<pid>-cpu). */
function producerDir(back: NatsRecordSummary, pid: number): NatsRecordSummary['producers'][number] {
  const p = back.producers.find((x) => x.producer === String(pid));
  assert.ok(p, `a directory for producer ${pid}: ${back.producers.map((x) => x.dir).join(', ')}`);
  return p;
}

/** Every record of a writer's file is its own, in order, with the content it wrote. */
function checkRecords(recs: KlogRecord[], w: KlogWorkerResult): void {
  let prev = -1;
  for (const rec of recs) {
    assert.equal(rec.thread, w.threadId);
    assert.ok(rec.seq > prev, `sequence only goes up (${prev} then ${rec.seq}): no duplicate`);
    prev = rec.seq;
    if (rec.type === 'text') assert.equal(recordText(rec), `writer ${w.id} record ${rec.seq}`);
    else assert.equal(rec.payload[0], rec.seq & 0xff);
  }
}

test('two producer processes with worker-thread writers: shipped by two shippers, rebuilt whole, merged with losses per producer', async () => {
  await addStream('TWO');
  const producers = [0, 1].map(() => new Producer({ writers: 2, count: 4000, subbufSize: 64 * 1024, nSubbufs: 16, pauseMs: 1 }));
  await Promise.all(producers.map((p) => p.next('ready')));
  const ships = producers.map((p) => shipper(`pid:${p.pid}`, 'TWO'));
  // Each shipper publishes its counters when it starts: from then on it is reading.
  await until('both shippers run', async () => (await subjectCount('TWO', '*.*.*.*.counters')) >= 4);
  for (const p of producers) p.send('write');
  const writers = await Promise.all(producers.map(async (p) => (await p.next('written')).writers as KlogWorkerResult[]));
  for (const p of producers) p.send('close');
  for (const p of producers) await p.next('closed');
  const summaries = await Promise.all(
    ships.map(async (s) => {
      const r = await s.done;
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    }),
  );
  for (const p of producers) await p.end();
  for (const s of summaries) {
    assert.equal(s.reason, 'hangup');
    assert.equal(s.complete, true);
  }

  const out = tempDir();
  const back = await recordFromNats({ url: `${server.url()}/TWO`, outDir: out, subjectPrefix: 'two' });
  assert.equal(back.producers.length, 2);
  let total = 0;
  producers.forEach((p, i) => {
    const { dir, sidecar } = producerDir(back, p.pid);
    assert.equal(sidecar.reason, 'hangup');
    for (const w of writers[i]!) {
      const b = sidecar.buffers.find((x) => x.cpu === w.cpu)! as (typeof sidecar.buffers)[number] & { transit: { lostInTransit: number; final: boolean } };
      assert.ok(b, `buffer ${w.cpu} of producer ${p.pid}`);
      assert.equal(b.transit.final, true);
      const bytes = readFileSync(join(dir, b.file));
      assert.equal(bytes.length, b.stats!.bytesRead, 'every byte the buffer gave is in the file, once');
      assert.equal(b.transit.lostInTransit, 0);
      const recs = [...decodeRecords(bytes)];
      checkRecords(recs, w);
      assert.equal(recs.length, b.written);
      assert.equal(recs.length + b.lost!, w.stats.records, 'delivered + dropped (by cause) = written');
      total += recs.length;
    }
  });

  const sink = new (await import('node:stream')).Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
  const m = await merge({ inputs: [out], out: sink });
  assert.equal(m.records, total);
  assert.equal(m.origins.length, 2, 'losses reported per producer');
  for (const o of m.origins) assert.equal(o.lost, 0);
});

test('a shipper of a recorded directory killed with SIGKILL mid-stream and started again: every byte once', async () => {
  const dir = recordedDirFiles(tempDir(), 3000);
  // A stream that takes 12 messages only: the shipper is stuck retrying the 13th when it is killed.
  await addStream('KILLDIR', { max_msgs: 12, discard: DiscardPolicy.New, max_msg_size: 16 * 1024 });
  const first = shipper(dir, 'KILLDIR');
  await until('the stream is full', async () => (await jsm.streams.info('KILLDIR')).state.messages === 12);
  first.child.kill('SIGKILL');
  assert.equal((await first.done).signal, 'SIGKILL');
  await jsm.streams.update('KILLDIR', { subjects: ['killdir.>'], max_msgs: -1, discard: DiscardPolicy.New, max_msg_size: 16 * 1024 });

  const second = await shipper(dir, 'KILLDIR').done;
  assert.equal(second.code, 0, second.stderr);
  const s = JSON.parse(second.stdout);
  assert.ok(
    s.buffers.some((b: { resumedAt: number }) => b.resumedAt > 0),
    'resumed from the stream, not from 0',
  );
  assert.equal(s.totals.duplicates, 0);

  const out = tempDir();
  const back = await recordFromNats({ url: `${server.url()}/KILLDIR`, outDir: out, subjectPrefix: 'killdir' });
  assert.equal(back.producers.length, 1);
  const { dir: rebuilt, sidecar } = back.producers[0]!;
  for (const f of ['cpu0', 'cpu1']) assert.ok(readFileSync(join(rebuilt, f)).equals(readFileSync(join(dir, f))), `${f} byte-identical`);
  for (const b of sidecar.buffers as unknown as { transit: { duplicates: number; holes: number; lostInTransit: number } }[]) {
    assert.deepEqual([b.transit.duplicates, b.transit.holes, b.transit.lostInTransit], [0, 0, 0]);
  }
});

test('a shipper of a live producer killed with SIGKILL and started again: every record once, nothing lost (the producer kept what the dead one read)', async (t) => {
  await addStream('KILLLIVE');
  // Buffers large enough that the channel drops nothing while no shipper reads: every missing record is one the dead shipper took.
  const prod = new Producer({ writers: 2, count: 30_000, subbufSize: 256 * 1024, nSubbufs: 16, pauseMs: 1 });
  await prod.next('ready');
  const first = shipper(`pid:${prod.pid}`, 'KILLLIVE');
  await until('the first shipper runs', async () => (await subjectCount('KILLLIVE', '*.*.*.*.counters')) >= 2);
  prod.send('write');
  await until('data is flowing', async () => (await subjectCount('KILLLIVE', '*.*.*.*')) >= 6);
  first.child.kill('SIGKILL');
  assert.equal((await first.done).signal, 'SIGKILL');
  const second = shipper(`pid:${prod.pid}`, 'KILLLIVE');
  const writers = (await prod.next('written')).writers as KlogWorkerResult[];
  prod.send('close');
  await prod.next('closed');
  const r = await second.done;
  assert.equal(r.code, 0, r.stderr);
  await prod.end();

  const out = tempDir();
  const back = await recordFromNats({ url: `${server.url()}/KILLLIVE`, outDir: out, subjectPrefix: 'killlive' });
  const { dir, sidecar } = producerDir(back, prod.pid);
  for (const w of writers) {
    assert.equal(w.stats.dropped, 0);
    const b = sidecar.buffers.find((x) => x.cpu === w.cpu)! as (typeof sidecar.buffers)[number] & { transit: { lostInTransit: number; final: boolean; duplicates: number } };
    const recs = [...decodeRecords(readFileSync(join(dir, b.file)))];
    checkRecords(recs, w);
    // Every record, each once and in order: what the dead shipper had read but not stored, the producer sent again.
    assert.deepEqual(
      recs.map((x) => x.seq),
      Array.from({ length: w.stats.records }, (_, i) => i),
      `${b.name}: every record once`,
    );
    assert.equal(b.transit.final, true);
    assert.equal(b.transit.lostInTransit, 0);
    assert.equal(b.unread, 0, 'nothing unread against the final counters');
    t.diagnostic(`${b.name}: ${recs.length} of ${w.stats.records} records shipped, ${b.transit.duplicates} duplicate messages skipped`);
  }
});

test('the NATS server killed and started again mid-stream: writers never wait, drops are counted, shipping resumes', async (t) => {
  await addStream('SRVKILL');
  // Small buffers: while the server is away they fill and the writers drop (beyond the 8 MiB a
  // follow read holds for the shipper: 250 000 records are about 14 MB per writer).
  const prod = new Producer({ writers: 2, buffers: 4, count: 250_000, subbufSize: 16 * 1024, nSubbufs: 4 });
  await prod.next('ready');
  const ship = shipper(`pid:${prod.pid}`, 'SRVKILL');
  await until('the shipper runs', async () => (await subjectCount('SRVKILL', '*.*.*.*.counters')) >= 2);
  prod.send('write');
  const before = (await prod.next('written')).writers as KlogWorkerResult[];
  await until('data is in the stream', async () => (await subjectCount('SRVKILL', '*.*.*.*')) >= 2);

  await server.kill('SIGKILL');
  prod.send('write');
  // The writers finish while there is no server at all: nothing they do waits for it.
  const during = (await prod.next('written')).writers as KlogWorkerResult[];
  for (const w of during) assert.deepEqual([w.stats.records, w.stats.errors], [250_000, 0], 'every call made, none refused for want of a buffer');
  assert.ok(
    during.some((w) => w.stats.dropped > 0),
    `with the shipper stalled, the full buffers drop: ${JSON.stringify([before, during])}`,
  );
  await server.launch();
  prod.send('close');
  await prod.next('closed');
  const r = await ship.done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.disconnects >= 1 && s.reconnects >= 1, `reconnected: ${r.stdout}`);
  t.diagnostic(`shipper: ${s.disconnects} disconnects, ${s.reconnects} reconnects, ${s.totals.retries} retries, ${s.totals.duplicates} duplicates`);
  await prod.end();

  const nc = await connect({ servers: server.url() });
  jsm = await jetstreamManager(nc);
  const old = closeNc;
  closeNc = async () => (await old().catch(() => {}), await nc.close());

  const out = tempDir();
  const back = await recordFromNats({ url: `${server.url()}/SRVKILL`, outDir: out, subjectPrefix: 'srvkill' });
  const { dir, sidecar } = producerDir(back, prod.pid);
  for (const b of sidecar.buffers as ((typeof sidecar.buffers)[number] & { transit: { lostInTransit: number; final: boolean } })[]) {
    const ws = [...before, ...during].filter((w) => w.cpu === b.cpu);
    const recs = [...decodeRecords(readFileSync(join(dir, b.file)))];
    for (const w of ws)
      checkRecords(
        recs.filter((x) => x.thread === w.threadId),
        w,
      );
    const made = ws.reduce((n, w) => n + w.stats.records, 0);
    const dropped = ws.reduce((n, w) => n + w.stats.dropped, 0);
    assert.equal(b.transit.final, true);
    assert.equal(b.lost, dropped, `${b.name}: the channel counted every drop by cause`);
    // The shipper never died and every publish was retried with its id until acknowledged: nothing lost in transit.
    assert.equal(b.transit.lostInTransit, 0);
    assert.equal(recs.length + b.lost!, made, `${b.name}: delivered + dropped = written`);
    t.diagnostic(`${b.name}: ${recs.length} shipped + ${b.lost} dropped (full) of ${made}; lost in transit ${b.transit.lostInTransit} B`);
  }
  assert.ok(sidecar.totals.records! > 0);
});
