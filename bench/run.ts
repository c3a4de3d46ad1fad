// Entry point: node dist/bench/run.js [flags] (see options.ts or --help).
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSvg } from './chart.js';
import { sizeLabel } from './format.js';
import { parseSettings, UsageError, USAGE, DEFAULT_CHART, DEFAULT_OUT, type Settings } from './options.js';
import { registry } from './registry.js';
import { renderText } from './report.js';
import { runPlan } from './schedule.js';
import { summarize } from './summary.js';

// Default output paths are relative to the repository (dist/bench/run.js → ../../), others to the cwd.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function main(): Promise<number> {
  let s: Settings;
  try {
    s = parseSettings(process.argv.slice(2), registry);
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof TypeError)) throw e; // parseArgs throws TypeErrors
    process.stderr.write(`${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (s.help) {
    console.log(USAGE);
    return 0;
  }
  if (s.list) {
    for (const c of registry) console.log(`${c.name.padEnd(22)} ${c.family.padEnd(11)} ${c.description}`);
    return 0;
  }

  const started = Date.now();
  // Live progress only on a terminal; --json keeps stderr quiet too.
  const live = !s.json && process.stderr.isTTY;
  const samples = await runPlan(
    s,
    live
      ? (done, total, c, size) => {
          process.stderr.write(`\r\x1b[K[${done + 1}/${total}] ${c.name} ${sizeLabel(size)}`);
        }
      : undefined,
  );
  if (live) process.stderr.write('\r\x1b[K');
  if (!s.json) console.log(`finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const report = summarize(s, samples);
  const written: string[] = [];
  if (s.out) written.push(await write(s.out === DEFAULT_OUT ? resolve(ROOT, s.out) : resolve(s.out), JSON.stringify(report, null, 2) + '\n'));
  if (s.chart) written.push(await write(s.chart === DEFAULT_CHART ? resolve(ROOT, s.chart) : resolve(s.chart), renderSvg(report)));

  if (s.json) console.log(JSON.stringify(report, null, 2));
  else console.log(renderText(report) + written.map((p) => `\nwrote ${p}`).join(''));
  // The write path allocates nothing: shown in a process of its own, where GCs can be counted.
  // Not after a subset (--cases, --sizes): those runs are for a closer look, and would overwrite the extras' results.
  if (s.mode === 'full' && !s.json && !s.subset) {
    console.log('');
    spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./alloc.js', import.meta.url))], { stdio: 'inherit' });
    console.log('');
    spawnSync(process.execPath, [fileURLToPath(new URL('./write-path.js', import.meta.url))], { stdio: 'inherit' });
    console.log('');
    spawnSync(process.execPath, [fileURLToPath(new URL('./first-lap.js', import.meta.url))], { stdio: 'inherit' });
    // How often this machine stops a busy thread and how late a sleeping one wakes: the context for the figures above.
    console.log('');
    spawnSync(process.execPath, [fileURLToPath(new URL('./noise.js', import.meta.url))], { stdio: 'inherit' });
    // Where the writer's time goes at 4 KiB and 64 KiB, lossless, relayfs against the ring.
    console.log('');
    spawnSync(process.execPath, [fileURLToPath(new URL('./handover.js', import.meta.url))], { stdio: 'inherit' });
    // relay channel → NATS JetStream, when a nats-server is installed (bench/ship.ts).
    console.log('');
    if (spawnSync('sh', ['-c', 'command -v nats-server || test -x /usr/sbin/nats-server'], { stdio: 'ignore' }).status === 0) {
      spawnSync(process.execPath, [fileURLToPath(new URL('./ship.js', import.meta.url))], { stdio: 'inherit' });
    } else console.log('ship → JetStream: skipped (no nats-server; apt-get install nats-server)');
    console.log('');
    // pino destinations (relayDestination, pino.transport, pino.destination): lines/s and lines lost at exit.
    spawnSync(process.execPath, [fileURLToPath(new URL('./pino.js', import.meta.url))], { stdio: 'inherit' });
  }
  return report.ok ? 0 : 1;
}

async function write(path: string, content: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  return path;
}

process.exitCode = await main();
