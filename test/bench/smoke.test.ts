// Runs the compiled benchmark in --smoke mode and checks that every registered case ran and
// verified at every size, and that the JSON report has its documented shape. No timing asserts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { registry } from '../../bench/registry.js';
import { SCHEMA, type BenchReport } from '../../bench/summary.js';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('bench --smoke: every case verifies at every size', { timeout: 600_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'relayfs-bench-'));
  try {
    const out = join(dir, 'smoke.json');
    const { code, stdout, stderr } = await runBench(['--smoke', '--json', '--out', out]);
    assert.equal(code, 0, `exit code ${code}\n${stderr}\n${stdout.slice(0, 4000)}`);

    const report = JSON.parse(await readFile(out, 'utf8')) as BenchReport;
    assert.deepEqual(JSON.parse(stdout), report, '--json prints the same report it writes');
    assert.equal(report.schema, SCHEMA);
    assert.equal(report.ok, true);
    assert.equal(report.settings.mode, 'smoke');
    assert.equal(typeof report.environment.node, 'string');
    assert.deepEqual(
      report.settings.cases,
      registry.map((c) => c.name),
    );

    for (const c of registry) {
      const got = report.cases.find((r) => r.name === c.name);
      assert.ok(got, `case ${c.name} missing from the report`);
      assert.equal(got.family, c.family);
      assert.deepEqual(
        got.results.map((r) => r.size).sort((a, b) => a - b),
        [...c.sizes].sort((a, b) => a - b),
      );
      for (const cell of got.results) {
        const where = `${c.name} at ${cell.size} B`;
        assert.equal(cell.verified, true, `${where}: ${cell.failure}`);
        assert.equal(cell.runs.length, report.settings.runs, where);
        for (const run of cell.runs) {
          assert.equal(run.verified, true, where);
          assert.ok(run.messages > 0, where);
          assert.equal(run.bytes, run.messages * cell.size, where);
        }
        for (const range of [cell.messagesPerSecond, cell.gigabytesPerSecond]) {
          assert.ok(range, where);
          assert.ok(range.min <= range.median && range.median <= range.max, where);
        }
      }
    }

    // Every case measured against another (klog-off ÷ empty-call) has its ratio.
    const paired = registry.filter((c) => c.versus);
    assert.deepEqual(
      [...new Set(report.versus.map((v) => v.caseName))],
      paired.map((c) => c.name),
    );
    for (const v of report.versus) assert.ok(v.ratio !== null && v.ratio > 0, `${v.caseName} ÷ ${v.versus}`);

    assert.ok(['relayfs', 'reference'].includes(report.ratios.subject));
    assert.deepEqual(
      report.ratios.rows.map((r) => r.size),
      report.settings.sizes,
    );
    for (const row of report.ratios.rows) {
      assert.ok(row.baselines.some((b) => b.label === 'copy limit'));
      for (const b of row.baselines) assert.ok(b.ratio === null || b.ratio > 0);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bench rejects unknown flags and cases with exit code 2', async () => {
  assert.equal((await runBench(['--no-such-flag'])).code, 2);
  assert.equal((await runBench(['--cases', 'no-such-case'])).code, 2);
});
