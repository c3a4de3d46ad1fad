import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const EXAMPLE = fileURLToPath(new URL('../../../examples/http-trace.mjs', import.meta.url));

test('examples/http-trace.mjs traces requests from the main thread and two workers, then exits', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, '6'], { timeout: 30_000 });
  const lines = stdout.trim().split('\n');
  assert.match(lines[0]!, /^recorded \d+ records \(0 lost\)/);
  const records = lines.slice(1);
  assert.equal(records.filter((l) => / http GET \/items\/\d+ job=/.test(l)).length, 6);
  assert.equal(records.filter((l) => / worker \d start job=/.test(l)).length, 6);
  // Three writer threads: the main thread and two workers.
  assert.equal(new Set(records.map((l) => l.split(' ')[1])).size, 3);
  // Merged in time order: every job starts in a worker after the server got its request.
  for (let job = 0; job < 6; job++) {
    const got = records.findIndex((l) => l.includes(`http GET /items/${job} job=${job}`));
    const start = records.findIndex((l) => l.includes(`start job=${job} `));
    const done = records.findIndex((l) => l.includes(`done job=${job} `));
    assert.ok(got < start && start < done, `job ${job}: request ${got}, start ${start}, done ${done}`);
  }
});
